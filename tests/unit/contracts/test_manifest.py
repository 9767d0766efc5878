"""The typed manifest: a trained bundle's manifest.json parses and writes back to the same bytes.

The manifest's bytes are signed and stored as they are: keys of other mlci versions and the
numbers' exact spelling must survive a parse and a write, or a version re-checked with a newer
mlci would no longer verify.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlci.contracts.manifest import Evaluation, Manifest
from mlci.errors import ModelError
from mlci.modeling.bundle import MANIFEST, open_bundle
from mlci.registry import Registry
from mlci.storage import open_store


@pytest.fixture
def example_bundle(trained) -> Path:
    """The example's model trained once a session: its manifest is what mlci writes (copy it to change it)."""
    return trained()


def with_foreign_keys(bundle: Path, dest: Path) -> bytes:
    """Copy `bundle` to `dest` with keys this mlci does not know, written as mlci writes a manifest."""
    shutil.copytree(bundle, dest)
    data = json.loads((dest / MANIFEST).read_text())
    data["signed_by_a_newer_mlci"] = {"nested": [1, 2.5, None, "x"], "flag": True}
    data["data"]["split_rows"] = {"train": 3}
    data["evaluation"] = {"baseline": None, "verdict": "bootstrap", "stages": ["gates"]}
    data["training_seconds"] = 3  # an int stays an int: `3`, not `3.0`
    raw = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    (dest / MANIFEST).write_bytes(raw)
    return raw


def test_a_trained_manifest_writes_back_to_the_same_bytes(example_bundle: Path) -> None:
    raw = (example_bundle / MANIFEST).read_bytes()
    manifest = Manifest.parse(raw, str(example_bundle / MANIFEST))
    assert manifest.dump().encode() == raw
    assert manifest.data is not None and manifest.data.rows is not None and manifest.data.rows["train"] > 0
    assert manifest.sha256 is not None and manifest.version == manifest.sha256[:16]


def test_unknown_keys_round_trip_byte_for_byte_through_bundle_and_registry(
    example_bundle: Path, tmp_path: Path
) -> None:
    raw = with_foreign_keys(example_bundle, tmp_path / "foreign")
    bundle = open_bundle(tmp_path / "foreign")
    bundle.write_manifest()
    assert (tmp_path / "foreign" / MANIFEST).read_bytes() == raw

    registry = Registry(open_store("registry", base_dir=tmp_path), "churn")
    pushed = registry.push(tmp_path / "foreign", actor="ci")
    assert registry.manifest(pushed.version).dump().encode() == raw
    fetched = registry.fetch(pushed.version, tmp_path / "cache")
    assert (fetched / MANIFEST).read_bytes() == raw

    # Setting what a check adds changes those keys only; the foreign ones stay.
    bundle.manifest.metrics = {"roc_auc": 0.9}
    bundle.manifest.evaluation = Evaluation(baseline="0123456789abcdef", verdict="pass")
    bundle.write_manifest()
    after, before = json.loads((tmp_path / "foreign" / MANIFEST).read_text()), json.loads(raw)
    assert after["signed_by_a_newer_mlci"] == before["signed_by_a_newer_mlci"]
    assert after["data"] == before["data"] and after["training_seconds"] == 3
    assert after["evaluation"] == {"baseline": "0123456789abcdef", "verdict": "pass"}
    assert {k: v for k, v in after.items() if k not in ("metrics", "evaluation")} == {
        k: v for k, v in before.items() if k not in ("metrics", "evaluation")
    }


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("pr", "7", '"7"'),
        ("pr", True, "true"),
        ("data", [], "[]"),
        ("git_sha", 12, "12"),
        ("metrics", {"roc_auc": "0.9"}, '"0.9"'),
    ],
)
def test_a_wrong_type_is_one_artifact_error_line(example_bundle: Path, field: str, value: object, shown: str) -> None:
    data = json.loads((example_bundle / MANIFEST).read_text())
    data[field] = value
    with pytest.raises(ModelError) as info:
        Manifest.parse(json.dumps(data), "s3://b/churn/versions/x/manifest.json")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"s3://b/churn/versions/x/manifest.json: field '{field}")
    assert f" is {shown}: " in message and message.endswith("train and push the bundle again")


def test_absent_and_null_fields_are_tolerated_as_before(example_bundle: Path) -> None:
    # Older mlci versions wrote fewer keys; readers fall back exactly as their .get() did.
    manifest = Manifest.parse(json.dumps({"version": "v", "features": None, "pr": None}), "m.json")
    assert manifest.features is None and manifest.pr is None and manifest.data is None
    assert (
        manifest.dump() == json.dumps({"features": None, "pr": None, "version": "v"}, indent=2, sort_keys=True) + "\n"
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("[" * 5000 + "]" * 5000, "JSON nested more than 64 levels deep; refusing to read it"),
        ('{"pr": ' + "9" * 5000 + "}", "not JSON mlci can read"),
    ],
)
def test_json_past_pythons_limits_is_one_artifact_error_line(raw: str, problem: str) -> None:
    # A PR role can write any manifest.json: nesting past the stack or an integer past Python's
    # digit limit is refused like any other bad manifest, never an internal error.
    with pytest.raises(ModelError) as refused:
        Manifest.parse(raw, "s3://b/versions/abc/manifest.json")
    assert str(refused.value).startswith(f"s3://b/versions/abc/manifest.json: {problem}")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_python_number_extensions_in_a_manifest_are_refused(constant: str) -> None:
    # json.loads accepts them by default; `history --json` would then print a token that is not JSON.
    with pytest.raises(ModelError) as refused:
        Manifest.parse('{"version": "v", "metrics": {"roc_auc": ' + constant + "}}", "s3://b/versions/v/manifest.json")
    assert (
        str(refused.value)
        == f"s3://b/versions/v/manifest.json: the number {constant} is not JSON; JSON has no such number"
    )
