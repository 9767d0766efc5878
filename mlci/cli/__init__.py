"""The command line: parse, call one Project method, emit."""

from mlci.cli.app import cli, main

__all__ = ["cli", "main"]
