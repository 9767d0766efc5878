"""`model.format: results`: a version is a set of artifacts; its per-example results come from the user's command.

mlci loads no model here. A results bundle holds

    artifacts/<path>        the files `model.artifacts` names, as they were in the checkout
    artifacts.json          their index (path -> sha256): the key file, so the version id is its sha256
    results.parquet         the command's per-example results on the evaluation rows (id + metrics)
    smoke.<ext>             the first `deploy.smoke_rows` evaluation rows, for the deploy's smoke test
    manifest.json           as every bundle's, with `results`: command, code hash, data fingerprint

`run_command` runs the command once, through the training command's runner
(mlci.modeling.command: argv split with shlex, no shell, its own process group ended at the
deadline, output logged line by line with secrets masked); `read_results` aligns what it wrote with the evaluation rows by id and
refuses, one line per problem, anything that does not fit.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.files import regular_file, sha256_file
from mlci.contracts.manifest import Manifest, ManifestData, ResultsManifest
from mlci.errors import ConfigError, ModelError, ResultsError
from mlci.modeling.bundle import FORMAT, MANIFEST, MODEL_FILES, Bundle, open_bundle, version_id

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlci.config.schema import Config

KEY_FILE = MODEL_FILES["results"]  # the file whose sha256 is the version id
ARTIFACTS = "artifacts"
RESULTS = "results.parquet"
OUTPUTS = ("results.parquet", "results.csv", "results.jsonl")
# Environment variable names whose values are masked in the command's output.
_SECRET_NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


@dataclass
class ExampleResults:
    """Per-example metric values, aligned with the evaluation rows (row i of every array is row i of the table)."""

    ids: list[str]
    values: dict[str, np.ndarray]
    seconds: float = 0.0  # how long the command ran (0: read from a stored version)

    def frame(self, id_column: str) -> pd.DataFrame:
        """Return the results as a table: the id column, then one column per metric."""
        import pandas as pd

        return pd.DataFrame({id_column: self.ids, **self.values})


# --- artifacts --------------------------------------------------------------------------------------------


def artifact_files(config: Config) -> dict[str, Path]:
    """Return every file `model.artifacts` names, by its path relative to mlci.yaml (directories taken whole)."""
    base = config.base_dir.resolve()
    found: dict[str, Path] = {}
    for given in config.model.artifacts:
        path = (base / given).resolve()
        if path != base and base not in path.parents:
            raise ConfigError(f"{config.path}: model.artifacts: '{given}' leads outside the repository")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        elif path.is_file():
            files = [path]
        else:
            raise ConfigError(
                f"{config.path}: model.artifacts: '{given}' does not exist", hint="list files or directories to version"
            )
        for file in files:
            found[file.relative_to(base).as_posix()] = regular_file(file)
    if not found:
        raise ConfigError(f"{config.path}: model.artifacts: the paths hold no files")
    return dict(sorted(found.items()))


def command_argv(config: Config) -> list[str]:
    """Return model.command split into argv as a POSIX shell would (shlex), though no shell runs it."""
    assert config.model.command is not None  # ModelSection requires it for format: results
    try:
        argv = shlex.split(config.model.command)
    except ValueError as e:
        raise ConfigError(f"{config.path}: model.command: cannot split {config.model.command!r}: {e}") from None
    if not argv:
        raise ConfigError(f"{config.path}: model.command is empty")
    return argv


def code_hash(config: Config) -> str:
    """Return the sha256 of the command: its argv and every file of the repository it can read as code.

    `python eval.py --k 3` hashes the words and the repository (git's tracked and unignored files,
    as the train cache does for a training command) but the version's own artifacts and the
    evaluation rows, which the manifest records apart: a change to eval.py or to a module it
    imports means stored results are no longer reused for a baseline; a new prompt does not.
    """
    from mlci.modeling.command import repository_hash

    digest = hashlib.sha256()
    for word in command_argv(config):
        digest.update(b"arg\0" + word.encode() + b"\0")
    rows = [p for p in (config.data.train, config.data.test) if isinstance(p, str) and "://" not in p]
    skip = ("comparison.json", Path(config.report.output).name, *config.model.artifacts, *rows)
    digest.update(b"repository\0" + repository_hash(config.base_dir, skip).encode())
    return digest.hexdigest()


# --- running the command ----------------------------------------------------------------------------------


def run_command(config: Config, *, rows: Path, artifacts: Path, output: Path, label: str) -> float:
    """Run model.command for one version and return its wall time; TrainingError when it fails or runs too long.

    `rows` is the evaluation rows file (MLCI_TEST_DATA), `artifacts` the version's artifacts
    (MLCI_ARTIFACTS_DIR), `output` where it writes its results (MLCI_OUTPUT_DIR). `label` names
    the version in messages ("the candidate", "baseline 1a2b..."). It runs through the same
    runner as a training command (mlci.modeling.command: no shell, its own process group ended
    at the deadline, lines logged as they come with secrets masked).
    """
    from mlci.modeling.command import command_environment
    from mlci.modeling.command import run_command as run_argv

    output.mkdir(parents=True, exist_ok=True)
    variables = {
        "MLCI_TEST_DATA": str(rows.resolve()),
        "MLCI_ARTIFACTS_DIR": str(artifacts.resolve()),
        "MLCI_OUTPUT_DIR": str(output.resolve()),
        "MLCI_PARAMS": json.dumps(config.model.params, sort_keys=True, default=str),
    }
    # Values of variables named like credentials (an API key the eval calls a provider with), and
    # the passwords mlci.yaml's URLs were filled with.
    masked = [v for k, v in config.environment.items() if any(s in k.upper() for s in _SECRET_NAMES) and v]
    ran = run_argv(
        command_argv(config),
        cwd=config.base_dir,
        env=command_environment(config.environment, variables),
        timeout_seconds=config.model.timeout_minutes * 60,
        field=f"model.command (for {label})",
        secrets=[*masked, *sorted(config.secrets)],
    )
    return ran.seconds


# --- reading what it wrote --------------------------------------------------------------------------------


def read_results(config: Config, output: Path, ids: pd.Series, label: str) -> ExampleResults:
    """Return the results the command wrote in `output`, aligned with the evaluation rows' `ids`.

    ResultsError, one line per problem: no results file, no id column, a metric column missing,
    ids missing, repeated or unknown, values that are not numbers (or not 0/1 for a binary metric).
    """
    from mlci.data.tables import parse_table

    written = [output / name for name in OUTPUTS if (output / name).is_file()]
    if len(written) != 1:
        what = "none of" if not written else "more than one of"
        raise ResultsError(
            f"{label}: the command wrote {what} {', '.join(OUTPUTS)}",
            problems=[f"{label}: the command wrote {what} {', '.join(OUTPUTS)} in MLCI_OUTPUT_DIR"],
        )
    path = written[0]
    where = f"{label} ({path.name})"
    frame = parse_table(str(path), regular_file(path).read_bytes())
    id_column = str(config.data.id)
    specs = config.metrics.per_example
    problems: list[str] = []
    if id_column not in frame.columns:
        problems.append(f"{where}: no id column '{id_column}' (data.id in mlci.yaml)")
    missing_columns = [m.name for m in specs if m.name not in frame.columns]
    if missing_columns:
        problems.append(f"{where}: no column {_names(missing_columns)} (metrics.per_example in mlci.yaml)")
    if problems:
        raise ResultsError(problems[0], problems=problems)

    got = frame[id_column].astype(str)
    want = ids.astype(str)
    repeated = got[got.duplicated()].unique().tolist()
    if repeated:
        problems.append(f"{where}: id(s) {_ids(repeated)} appear more than once")
    expected = set(want)
    absent = [i for i in want if i not in set(got)]
    if absent:
        problems.append(f"{where}: no result for {len(absent)} of {len(want)} row(s): id(s) {_ids(absent)}")
    extra = [i for i in dict.fromkeys(got) if i not in expected]
    if extra:
        problems.append(f"{where}: id(s) {_ids(extra)} are not in the evaluation rows")

    import numpy as np
    import pandas as pd

    values: dict[str, np.ndarray] = {}
    for spec in specs:
        column = frame[spec.name]
        numbers = pd.to_numeric(column.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce")
        bad = numbers.isna() & column.notna()
        if bad.any():
            shown = ", ".join(f"{i} ({str(v)[:20]!r})" for i, v in zip(got[bad][:5], column[bad][:5], strict=True))
            problems.append(f"{where}: column '{spec.name}' is not a number for id(s) {shown}")
            continue
        empty = column.isna()
        if empty.any():
            problems.append(f"{where}: column '{spec.name}' is empty for id(s) {_ids(got[empty].tolist())}")
            continue
        if spec.kind == "binary" and not numbers.isin([0, 1]).all():
            off = ~numbers.isin([0, 1])
            problems.append(
                f"{where}: binary column '{spec.name}' holds values other than 0 and 1 for id(s) {_ids(got[off].tolist())}"
            )
            continue
        values[spec.name] = numbers.to_numpy(dtype=float)
    if problems:
        raise ResultsError(problems[0], problems=problems)
    position = pd.Series(np.arange(len(got)), index=got.to_numpy())
    order = position.loc[want.to_numpy()].to_numpy()
    return ExampleResults(ids=want.tolist(), values={k: v[order] for k, v in values.items()})


def _ids(ids: list[Any], limit: int = 10) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" (and {len(ids) - limit} more)" if len(ids) > limit else "")


def _names(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


# --- the bundle -------------------------------------------------------------------------------------------


def write_results_bundle(
    dest: Path,
    config: Config,
    files: dict[str, Path],
    *,
    rows: pd.DataFrame,
    rows_suffix: str,
    fingerprint: str,
    code: str,
    pr: int | None = None,
    sha: str | None = None,
    merge_sha: str | None = None,
) -> Bundle:
    """Return a results bundle in `dest` holding the artifacts `files` and the smoke rows; results come later.

    Its version id is the sha256 of artifacts.json, the index of the artifacts' paths and hashes:
    the same artifacts are the same version, whatever the results or the time.
    """
    from mlci._internal.libraries import library_versions

    dest.mkdir(parents=True, exist_ok=True)
    hashes: dict[str, str] = {}
    for rel, source in files.items():
        target = dest / ARTIFACTS / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        hashes[f"{ARTIFACTS}/{rel}"] = sha256_file(target)
    index = (json.dumps({"artifacts": hashes}, indent=2, sort_keys=True) + "\n").encode()
    (dest / KEY_FILE).write_bytes(index)
    key = hashlib.sha256(index).hexdigest()
    smoke = f"smoke{rows_suffix}"
    write_rows(rows.head(config.deploy.smoke_rows), dest / smoke)
    manifest = Manifest(
        format=FORMAT,
        version=version_id(key),
        sha256=key,
        model_format="results",
        files={KEY_FILE: key, **hashes, smoke: sha256_file(dest / smoke)},
        model=config.model.name,
        params=dict(config.model.params),
        data=ManifestData(
            fingerprints={"test": fingerprint}, sources={"test": str(config.data.test)}, rows={"test": len(rows)}
        ),
        git_sha=sha,
        git_merge_sha=merge_sha,
        pr=pr,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        libraries=library_versions(),
        results=ResultsManifest(
            command=config.model.command,
            code_sha256=code,
            data_fingerprint=fingerprint,
            id=str(config.data.id),
            metrics=[m.name for m in config.metrics.per_example],
            smoke=smoke,
        ),
    )
    bundle = Bundle(dest, manifest)
    bundle.write_manifest()
    return bundle


def attach_results(bundle: Bundle, results: ExampleResults, id_column: str) -> None:
    """Write the results into the (unpushed) bundle and list them in its manifest."""
    path = bundle.path / RESULTS
    results.frame(id_column).to_parquet(path, index=False)
    assert bundle.manifest.files is not None and bundle.manifest.results is not None
    bundle.manifest.files = {**bundle.manifest.files, RESULTS: sha256_file(path)}
    bundle.manifest.results = bundle.manifest.results.model_copy(update={"seconds": round(results.seconds, 3)})
    bundle.write_manifest()


def stored_results(bundle: Bundle, config: Config, ids: pd.Series) -> ExampleResults | None:
    """Return a version's stored results on these rows, or None when it has none for them.

    Stored results are reused only when they answer the same question: the same evaluation
    rows (data fingerprint, checked by the caller), the same command code, and a column for
    every metric asked now; the bundle's hashes were checked when it was opened.
    """
    record = bundle.manifest.results
    path = bundle.path / RESULTS
    if record is None or not path.is_file() or RESULTS not in (bundle.manifest.files or {}):
        return None
    if sha256_file(path) != (bundle.manifest.files or {})[RESULTS]:
        raise ModelError(f"{path}: differs from its manifest's sha256; the stored version was altered")
    try:
        return read_results(config, path.parent, ids, f"version {bundle.version}'s stored results")
    except ResultsError:
        return None  # stored for other metrics or rows: the command runs again


def write_rows(frame: pd.DataFrame, path: Path) -> None:
    """Write evaluation rows in the format `path`'s extension names (the format of data.test)."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame.to_parquet(path, index=False)
    elif name.endswith((".jsonl", ".ndjson")):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        sep = "\t" if name.endswith(".tsv") else ","
        frame.to_csv(path, index=False, sep=sep)


def rows_suffix(test: str) -> str:
    """Return the extension of the evaluation rows file (".jsonl", ".csv", ".parquet", ...)."""
    name = test.lower()
    for ext in (".csv.gz", ".parquet", ".pq", ".jsonl", ".ndjson", ".tsv", ".csv", ".txt"):
        if name.endswith(ext):
            return ext if ext != ".csv.gz" else ".csv"
    return ".csv"


def open_results_bundle(path: Path, *, expect: str | None = None) -> Bundle:
    """Return the verified results bundle at `path` (ModelError when it is another format's)."""
    bundle = open_bundle(path, expect=expect)
    if bundle.manifest.results is None or not (path / MANIFEST).is_file():
        raise ModelError(f"{path}: version {bundle.version} is not a `format: results` version")
    return bundle
