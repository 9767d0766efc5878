"""Documentation that is generated from code must match the code."""

from __future__ import annotations

from mlci.config import Config
from mlci.config_reference import reference_markdown
from tests.conftest import ROOT


def test_config_reference_is_up_to_date():
    written = (ROOT / "docs" / "config.md").read_text()
    assert written == reference_markdown(), (
        "docs/config.md is stale: run `python -m mlci.config_reference > docs/config.md`"
    )


def test_config_reference_documents_every_field_with_a_description():
    text = reference_markdown()
    for section in [
        Config,
        *[f.annotation for f in Config.model_fields.values() if hasattr(f.annotation, "model_fields")],
    ]:
        for name, field in section.model_fields.items():  # type: ignore[union-attr]
            assert field.description, f"{section.__name__}.{name} has no description"
            assert f"| `{name}` |" in text
