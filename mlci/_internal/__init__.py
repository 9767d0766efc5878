"""Small internals every layer may use: serialisation, redaction, the result cache."""
