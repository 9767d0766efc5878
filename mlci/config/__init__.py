"""mlci.yaml: its pydantic models, ${VAR} interpolation, JSON Schema and the generated reference."""
