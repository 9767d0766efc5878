"""Models: building and fitting estimators, bundles, safe loading and contained scoring."""
