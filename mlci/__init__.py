"""mlci: CI/CD for machine-learning repositories. `mlci.Project` is the library's front door."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mlci.project import Project

__all__ = ["Project", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazily, so `import mlci` (and `mlci --help`) does not import pydantic and the configuration.
    if name == "Project":
        from mlci.project import Project

        return Project
    raise AttributeError(f"module 'mlci' has no attribute {name!r}")
