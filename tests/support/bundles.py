"""Bundles an attacker with write access to `versions/` could make from a real one.

Each keeps the manifest's content addressing consistent (sha256, files, version), as someone
who can write the bucket would, so only mlci's other checks can refuse what it holds.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

# Two small models of the example's own estimator: quick to train, distinct versions.
GOOD = {"max_iter": 40, "max_depth": 3}
OTHER = {"max_iter": 30, "max_depth": 2}

# The numpy functions a hostile model chains to run Python source (hostile_bundle).
FUNCTIONS = ("numpy.full_like", "numpy.sum", "numpy.testing._private.utils.runstring")


def hostile_bundle(template: Path, dest: Path, marker: Path) -> Path:
    """Write a bundle whose model runs Python source on transform, built only from numpy functions.

    full_like fills an object array with the source, sum concatenates it, runstring exec()s it;
    the source appends to `marker`. Everything but the model (manifest fields, smoke rows,
    profile) is copied from the real bundle `template`.
    """
    import numpy as np
    from numpy.testing._private.utils import runstring
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mlci.contracts.manifest import Manifest
    from mlci.modeling.bundle import write_bundle

    source = f"open({str(marker)!r}, 'a').write('code ran\\n')\n"
    model = Pipeline(
        [
            ("fill", FunctionTransformer(np.full_like, kw_args={"fill_value": source, "dtype": "O"})),
            ("join", FunctionTransformer(np.sum)),
            ("run", FunctionTransformer(runstring, kw_args={"dict": {}})),
            ("model", DummyClassifier()),
        ]
    )
    manifest = json.loads((template / "manifest.json").read_text())
    extras = {n: (template / n).read_bytes() for n in manifest["files"] if n != "model.skops"}
    for key in ("sha256", "version", "files"):
        manifest.pop(key)
    return write_bundle(dest, model, Manifest.model_validate(manifest), extras).path


def rehash(bundle: Path, model: bytes) -> str:
    """Replace the bundle's model and make its manifest agree; return the new version."""
    (bundle / "model.skops").write_bytes(model)
    manifest = json.loads((bundle / "manifest.json").read_text())
    digest = hashlib.sha256(model).hexdigest()
    manifest.update(sha256=digest, version=digest[:16])
    manifest["files"]["model.skops"] = digest
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return digest[:16]


def claimed(bundle: Path, dest: Path, **claims: object) -> Path:
    """Copy `bundle` to `dest` with a manifest that claims `claims` (`pr`, `git_sha`): the version is unchanged.

    A pull request's job can write any manifest; the model, hence the version id, stays the same.
    """
    shutil.copytree(bundle, dest)
    data = json.loads((dest / "manifest.json").read_text())
    data.update(claims)
    (dest / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return dest
