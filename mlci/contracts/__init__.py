"""Typed records that cross layers: manifest, report document, references, events."""
