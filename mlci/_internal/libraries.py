"""The versions of Python, mlci and the libraries a model depends on (recorded in manifests and reports)."""

from __future__ import annotations

import platform

from mlci import __version__

LIBRARIES = ("scikit-learn", "numpy", "pandas", "scipy", "skops", "great-expectations")


def library_versions() -> dict[str, str]:
    """Return the versions of Python, mlci and the libraries a model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "mlci": __version__}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
