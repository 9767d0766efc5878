"""The use cases: check, evaluate, release, promote from a PR, deploy, retrain, init, demo."""
