"""Model signing (OpenSSF model signing), its verification against the policy, and the ML-BOM."""
