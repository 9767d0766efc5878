"""Candidates mlci does not fit itself: a model the user's `command` trains, or a `file` trained elsewhere.

Both go the same way: the model file (model.onnx or model.skops, as model.format says) becomes a
bundle, is scored on the test table in the contained process (its checks — onnx.checker, operator
domains, tensor sizes, skops' trusted types — run there, before anything predicts), and the bundle
gets the reference profile and smoke rows every candidate has. Nothing of it runs in this process.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import ModelError, TrainingError

if TYPE_CHECKING:
    from mlci.config.schema import Config
    from mlci.data.tables import Datasets
    from mlci.modeling.bundle import Bundle
    from mlci.modeling.training import TrainResult
    from mlci.stats.evaluation import Predictions


def train_outside(
    config: Config,
    datasets: Datasets,
    output: Path,
    *,
    pr: int | None = None,
    key: str | None = None,
    sha: str | None = None,
    merge_sha: str | None = None,
) -> TrainResult:
    """Return the candidate `model.command` trains or `model.file` holds, written as a bundle to `output`."""
    from mlci.contracts.manifest import Manifest
    from mlci.data.features import feature_kinds
    from mlci.modeling.bundle import write_model
    from mlci.modeling.formats import format_named
    from mlci.modeling.training import TrainResult, cache_key, describe

    model = config.model
    kinds = feature_kinds(datasets.train, datasets.features, explicit=True)
    fmt = format_named(model.format)
    if fmt.name == "onnx":
        from mlci.modeling.onnxmodel import require_onnx

        require_onnx()
    from mlci.modeling.sandbox import warm_up

    warm_up(fmt.name)  # the contained process's imports run while the command trains
    work = Path(tempfile.mkdtemp(prefix="outside-", dir=_scratch(config)))
    try:
        started = time.monotonic()
        if model.command is not None:
            data = _run(config, datasets, work, fmt.filename)
        else:
            data = _read_file(config, fmt.filename)
        seconds = time.monotonic() - started
        # A first bundle holds only the model, so the contained process can score the test table.
        first = Manifest(
            model=model.name,
            task=model.task,
            features=datasets.features,
            target=datasets.target,
            classes=list(model.classes) if model.classes else None,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        bundle = write_model(output, data, fmt.name, first)
        predictions = _score(config, datasets, bundle)
        key = key or cache_key(config, datasets.fingerprints)
        manifest, extra = describe(
            config, datasets, kinds, predictions, seconds, pr=pr, key=key, sha=sha, merge_sha=merge_sha
        )
        for name in list(output.iterdir()):
            name.unlink()
        bundle = write_model(output, data, fmt.name, manifest, extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TrainResult(bundle=bundle, seconds=seconds, cache_key=key, test_predictions=predictions)


def _scratch(config: Config) -> Path:
    root = config.work_dir / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _run(config: Config, datasets: Datasets, work: Path, filename: str) -> bytes:
    """Return the model file the command wrote, after running it with the training data and MLCI_* variables."""
    from mlci.modeling.command import command_environment, run_command

    model = config.model
    train_data = work / "train.parquet"
    out = work / "output"
    out.mkdir()
    columns = [*datasets.features, datasets.target]
    datasets.train[columns].to_parquet(train_data, index=False)
    variables = {
        "MLCI_TRAIN_DATA": str(train_data),
        "MLCI_FEATURES": json.dumps(datasets.features),
        "MLCI_TARGET": datasets.target,
        "MLCI_TASK": config.task,
        "MLCI_PARAMS": json.dumps(model.params, default=str),
        "MLCI_SEED": str(model.random_state),
        "MLCI_OUTPUT_DIR": str(out),
    }
    run_command(
        model.argv,
        cwd=config.base_dir,
        env=command_environment(config.environment, variables),
        timeout_seconds=model.timeout_minutes * 60,
        secrets=sorted(config.secrets),
    )
    return _model_bytes(out / filename, f"model.command '{model.command}'", "$MLCI_OUTPUT_DIR", config)


def _read_file(config: Config, filename: str) -> bytes:
    path = Path(config.locate(str(config.model.file)))
    if not path.exists():
        raise ModelError(f"model.file: {config.model.file} does not exist (relative to {config.base_dir})")
    return _model_bytes(path, f"model.file {config.model.file}", str(path.parent), config, check_name=False)


def _model_bytes(path: Path, what: str, where: str, config: Config, *, check_name: bool = True) -> bytes:
    """Return the bytes of the model file at `path`; one line when it is missing, of the wrong format, or too big."""
    from mlci._internal.files import regular_file
    from mlci.modeling.bundle import MODEL_FILES

    fmt = config.model.format
    if check_name and not path.exists():
        others = [name for f, name in MODEL_FILES.items() if f != fmt and (path.parent / name).exists()]
        if others:
            raise TrainingError(
                f"{what} wrote {others[0]}, but model.format is {fmt}: set model.format to "
                f"{others[0].rpartition('.')[2]}, or write {path.name}"
            )
        raise TrainingError(f"{what} ended without writing {path.name} into {where}")
    limit = config.model.max_model_mb * 1024 * 1024
    try:
        file = regular_file(path)
        if file.stat().st_size > limit:
            raise ModelError(f"{what}: {path.name} is past model.max_model_mb = {config.model.max_model_mb}")
        data = file.read_bytes()
    except OSError as e:
        raise ModelError(f"{what}: cannot read {path.name} ({e.strerror})") from None
    if not _looks_like(data, fmt):
        raise ModelError(
            f"{what}: {path.name} is not a {fmt} model file",
            hint="skops files are zip archives (skops.io.dump); ONNX files are protobuf (onnx.save)",
        )
    return data


def _looks_like(data: bytes, fmt: str) -> bool:
    # A skops file is a zip archive; an ONNX file a protobuf ModelProto, whose fields come in any
    # order — the full parse (in the contained process) decides, this only catches a swapped file.
    is_zip = data[:4] == b"PK\x03\x04"
    return is_zip if fmt == "skops" else not is_zip


def _score(config: Config, datasets: Datasets, bundle: Bundle) -> Predictions:
    """Return the candidate's predictions on the test table, scored in the contained process."""
    import dataclasses

    import numpy as np

    from mlci.data.tables import require_columns
    from mlci.modeling.sandbox import sandbox_of, score

    test = datasets.test
    require_columns(test, datasets.features, uri="the test table", field="data.features")
    sandbox = sandbox_of(config)
    if config.model.task == "classification" and not config.model.classes:
        labels = datasets.train[datasets.target].dropna().unique()
        sandbox = dataclasses.replace(sandbox, fallback_classes=tuple(np.sort(labels).tolist()))
    return score(bundle, test[datasets.features], sandbox)
