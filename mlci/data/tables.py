"""Read the tables mlci.yaml names (CSV or Parquet, local or s3://) and fingerprint them."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci._internal.text import first_line
from mlci.contracts.document import Sample
from mlci.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config, SplitSection, TableSource
    from mlci.contracts.drift import Profile
    from mlci.data.engines import EngineTable

_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".csv.gz", ".tsv", ".txt")
_JSONL = (".jsonl", ".ndjson")


@dataclass
class Table:
    """A table as read, with where it came from and the sha256 of its bytes."""

    uri: str
    frame: pd.DataFrame
    sha256: str


class Datasets:
    """The train and test tables of a config, fingerprinted at once and parsed on first use.

    An unchanged re-run of `mlci check` finds its validation, candidate and comparison in the
    caches by the fingerprints alone; parsing lazily lets it skip pandas entirely.
    """

    def __init__(
        self,
        target: str,
        fingerprints: dict[str, str],
        sources: dict[str, str],
        load: Callable[[], tuple[pd.DataFrame, pd.DataFrame, list[str]]],
        *,
        engines: dict[str, EngineTable] | None = None,
        sample: Sample | None = None,
    ) -> None:
        self.target = target
        self.fingerprints = fingerprints
        self.sources = sources
        self._load = load
        self._frames: tuple[pd.DataFrame, pd.DataFrame, list[str]] | None = None
        # Tables that live in an engine, by name (train, test or table): validated and profiled there.
        self.engines = engines or {}
        # How the rows in pandas were sampled from the engine tables (None: nothing was sampled).
        self.sample = sample

    @classmethod
    def of(
        cls,
        train: pd.DataFrame,
        test: pd.DataFrame,
        target: str,
        features: list[str],
        fingerprints: dict[str, str],
        sources: dict[str, str],
        *,
        engines: dict[str, EngineTable] | None = None,
        sample: Sample | None = None,
    ) -> Datasets:
        """Return Datasets of frames already in memory (sampled from `engines`, if given)."""
        return cls(target, fingerprints, sources, lambda: (train, test, features), engines=engines, sample=sample)

    def _parsed(self) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        if self._frames is None:
            self._frames = self._load()
        return self._frames

    @property
    def train(self) -> pd.DataFrame:
        return self._parsed()[0]

    @property
    def test(self) -> pd.DataFrame:
        return self._parsed()[1]

    @property
    def features(self) -> list[str]:
        return self._parsed()[2]

    def engine_for(self, name: str) -> EngineTable | None:
        """Return the engine table behind `train` or `test` (the one split table for both), if any."""
        return self.engines.get(name) or self.engines.get("table")

    def reference_profile(
        self,
        categorical: list[str],
        predictions: Any,
        features: list[str] | None = None,
        *,
        text: list[str] | None = None,
        dates: list[str] | None = None,
        skipped: dict[str, str] | None = None,
    ) -> Profile:
        """Return the drift profile of the training data (of `features`, default all): in its engine, else pandas.

        `text` and `dates` name the free-text and datetime columns; `skipped` the columns left
        out and why, which the drift report lists.
        """
        from mlci.stats.drift import build_profile, prediction_entry

        features = self.features if features is None else features
        skipped = dict(skipped or {})
        engine = self.engine_for("train")
        if engine is None:
            return build_profile(
                self.train,
                features=features,
                categorical=categorical,
                predictions=predictions,
                text=text,
                dates=dates,
                skipped=skipped,
            )
        special = set(text or []) | set(dates or [])
        skipped.update({c: "datetime and text columns are profiled for tables read into pandas only" for c in special})
        profile = engine.profile([f for f in features if f not in special], categorical=categorical)
        update: dict[str, Any] = {"skipped": skipped}
        if predictions is not None:
            update["predictions"] = prediction_entry(predictions)
        return profile.model_copy(update=update)


def repository_of(config: Config) -> Path:
    """Return the repository a config's relative table paths stay in: the git work tree holding mlci.yaml, else its directory."""
    start = config.base_dir.resolve()
    for directory in (start, *start.parents):
        if (directory / ".git").exists():  # a directory, or a file in a worktree or submodule
            return directory
    return start


def confinement(config: Config, given: str) -> Path | None:
    """Return where the table path `given` (as written) must lead: the repository when relative, None when explicit.

    An absolute path names its file explicitly, in mlci.yaml or on the command line, and may
    lead anywhere; a relative one (from mlci.yaml's directory, or from the working directory
    on the command line) must stay inside the repository once every symlink is resolved.
    """
    return None if given.startswith("s3://") or os.path.isabs(given) else repository_of(config)


def read_bytes(uri: str, *, s3_options: dict[str, Any] | None = None, confined_to: Path | None = None) -> bytes:
    """Return the bytes at a local path or an s3:// URI; DataError when it cannot be read.

    A local path must be a regular file (a FIFO would hold the reader forever, a device never
    ends) and, with `confined_to`, lead inside that directory once its symlinks are resolved
    (a symlink in a pull request must not make mlci read /etc/passwd into a report).
    """
    if uri.startswith("s3://"):
        from mlci.storage.s3 import read_object

        return read_object(uri, **(s3_options or {}))
    try:
        real = Path(uri).resolve(strict=True)
    except FileNotFoundError:
        raise DataError(
            f"{uri}: no such file", hint="check the path; paths in mlci.yaml are relative to that file"
        ) from None
    except (OSError, RuntimeError) as e:  # a symlink loop
        raise DataError(f"{uri}: cannot resolve the path ({getattr(e, 'strerror', None) or e})") from None
    if confined_to is not None and not real.is_relative_to(confined_to):
        raise DataError(
            f"{uri}: leads to {real}, outside the repository {confined_to}; "
            "mlci reads a relative table path only inside the repository",
            hint="put the file in the repository, or name it by an absolute path",
        )
    try:
        # Not blocking: a FIFO opens at once and is refused below instead of waiting for a writer.
        # Not following: the path was just resolved, so a symlink here was swapped in since.
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        raise DataError(f"{uri}: cannot read ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"{uri}: is a directory, expected a CSV or Parquet file")
        if not stat.S_ISREG(mode):
            raise DataError(
                f"{uri}: is {_special_kind(mode)}, not a regular file; mlci reads tables only from regular files"
            )
        try:
            return f.read()
        except OSError as e:
            raise DataError(f"{uri}: cannot read ({e.strerror})") from None


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "a special file"


def parse_table(uri: str, raw: bytes, options: dict[str, Any] | None = None) -> pd.DataFrame:
    """Return the DataFrame in `raw`, read as CSV, Parquet or JSON Lines by the name's extension.

    `options` (data.read_options) go to pandas' reader as they are; a CSV without a `sep`
    gets the separator its header uses (comma, semicolon, tab or pipe).
    """
    import pandas as pd

    name = uri.lower()
    given = dict(options or {})
    options = dict(given)
    try:
        if name.endswith(_PARQUET):
            return pd.read_parquet(io.BytesIO(raw), **options)
        if name.endswith(_JSONL):
            return pd.read_json(io.BytesIO(raw), lines=True, **options)
        if name.endswith(_CSV):
            comp = "gzip" if name.endswith(".gz") else None
            if "sep" not in options and "delimiter" not in options:
                options.update(sniff_csv(raw, name))
            frame = pd.read_csv(io.BytesIO(raw), compression=comp, **options)
            _refuse_one_column(uri, frame)
            return frame
    except pd.errors.EmptyDataError:
        raise DataError(f"{uri}: the file is empty") from None
    except DataError:
        raise
    except TypeError as e:
        if not given:
            raise DataError(f"{uri}: cannot parse: {e}") from e
        # an option pandas does not know
        raise DataError(f"{uri}: data.read_options: {e}", hint="see pandas.read_csv / read_parquet") from None
    except Exception as e:  # pandas and pyarrow raise many types for a corrupt file
        first = first_line(e)
        kind = "Parquet" if name.endswith(_PARQUET) else "JSON Lines" if name.endswith(_JSONL) else "CSV"
        raise DataError(f"{uri}: cannot parse as {kind}: {first}") from e
    raise DataError(f"{uri}: unknown table format", hint="use a .csv, .csv.gz, .tsv, .parquet or .jsonl file")


def sniff_csv(raw: bytes, name: str) -> dict[str, str]:
    """Return the `sep` (and for semicolon files with decimal commas, `decimal`) a CSV's first lines use.

    Written here rather than with csv.Sniffer, which guesses from any character and turns a
    plain comma file with a few semicolons in its text into a semicolon one: a header
    without a comma is the only case that changes from pandas' default.
    """
    head = raw[:65536]
    if name.endswith(".gz"):
        import zlib

        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 65536)
        except zlib.error:
            return {}
    lines = head.decode("utf-8", errors="replace").splitlines()[:2]
    if not lines:
        return {}
    if name.endswith(".tsv"):
        return {"sep": "\t"}
    header = lines[0]
    if "," in header:
        return {}
    counts = {sep: header.count(sep) for sep in (";", "\t", "|")}
    sep = max(counts, key=lambda k: counts[k])
    if not counts[sep]:
        return {}
    found = {"sep": sep}
    if sep == ";" and len(lines) > 1 and re.search(r"(^|;)-?\d+,\d+(;|$)", lines[1]):
        found["decimal"] = ","  # the spreadsheet export of a locale that writes 1,5
    return found


def _refuse_one_column(uri: str, frame: pd.DataFrame) -> None:
    """Raise DataError when a CSV was read as one column whose name holds another separator."""
    if len(frame.columns) != 1:
        return
    header = str(frame.columns[0])
    for sep, shown in ((";", "';'"), ("\t", "'\\t'"), ("|", "'|'"), (",", "','")):
        if sep in header:
            raise DataError(
                f"{uri}: read as one column '{header[:60]}'; its separator looks like {shown}",
                hint=f"set data.read_options: {{sep: {shown}}} in mlci.yaml",
            )


def read_table(
    uri: str,
    *,
    s3_options: dict[str, Any] | None = None,
    allow_empty: bool = False,
    options: dict[str, Any] | None = None,
    confined_to: Path | None = None,
) -> Table:
    """Return the table at `uri` with its fingerprint; DataError for missing, unreadable or empty tables.

    `confined_to`: the directory a local path must lead inside (`confinement`); see `read_bytes`.
    """
    raw = read_bytes(uri, s3_options=s3_options, confined_to=confined_to)
    frame = parse_table(uri, raw, options)
    if len(frame) == 0 and not allow_empty:
        raise DataError(f"{uri}: the table has no rows")
    return Table(uri=uri, frame=frame, sha256=hashlib.sha256(raw).hexdigest())


def s3_options(config: Config) -> dict[str, Any]:
    """Return the S3 client settings of a config's registry, used for s3:// tables too."""
    r = config.registry
    return {"endpoint_url": r.endpoint_url or None, "region": r.region, "addressing_style": r.addressing_style}


def require_columns(frame: pd.DataFrame, columns: list[str], *, uri: str, field: str) -> None:
    """Raise DataError naming the first of `columns` that `frame` lacks."""
    for col in columns:
        if col not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:12]))
            raise DataError(f"{uri}: no column '{col}' ({field} in mlci.yaml); the table has: {shown}")


def load_datasets(config: Config) -> Datasets:
    """Return the train and test tables named by `config`, split when it names one table.

    The files are read and fingerprinted here (a missing file fails at once); they are
    parsed and their columns checked when first used. An engine table's sample is pulled
    here (its fingerprint is the sample's content).
    """
    if config.model.format == "results":
        return load_rows(config)
    d = config.data
    target = config.target
    opts = s3_options(config)
    engines: dict[str, EngineTable] = {}
    pulled: dict[str, int] = {}

    def source(name: str, src: TableSource) -> tuple[str, str, Callable[[], pd.DataFrame]]:
        """Return (fingerprint, shown source, frame loader) of one configured table."""
        if isinstance(src, str):
            from mlci._internal.files import shown_path

            uri = config.locate(src)
            raw = read_bytes(uri, s3_options=opts, confined_to=confinement(config, src))
            shown = shown_path(uri, config.base_dir)  # what manifests and reports name: never a runner's path
            return hashlib.sha256(raw).hexdigest(), shown, lambda: _checked_frame(uri, raw, target, d.read_options)
        from mlci.data.engines import frame_fingerprint, open_table

        table = open_table(src, field=f"data.{name}")
        frame = table.sample(d.id, d.sample_rows)
        if len(frame) == 0:
            raise DataError(f"{table.label}: the table has no rows")
        require_columns(frame, [target], uri=table.label, field="data.target")
        engines[name], pulled[name] = table, len(frame)
        return frame_fingerprint(frame, table.label), table.label, lambda: frame

    if d.table is not None:
        fingerprint, uri, read = source("table", d.table)
        split = d.split or _default_split()
        fingerprints = {
            "table": fingerprint,
            "split": f"test_size={split.test_size},seed={split.seed},stratify={split.stratify}"
            + (f",by={split.by}" if split.by else ""),
        }
        sources = {"table": uri}

        def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
            return split_table(read(), config)

    else:
        assert d.train is not None and d.test is not None  # guaranteed by DataSection's validator
        tables = {name: source(name, src) for name, src in (("train", d.train), ("test", d.test))}
        fingerprints = {name: t[0] for name, t in tables.items()}
        sources = {name: t[1] for name, t in tables.items()}

        def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
            return tables["train"][2](), tables["test"][2]()

    def load() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        train, test = frames()
        features = feature_columns(config, train)
        uri = sources.get("train", sources.get("table", ""))
        require_columns(train, features + ([d.id] if d.id else []) + d.slices, uri=uri, field="data.features/id/slices")
        require_columns(test, features, uri=sources.get("test", uri), field="data.features")
        for name, frame in (("train", train), ("test", test)):
            if frame[target].isna().all():
                raise DataError(f"{sources.get(name, uri)}: target column '{target}' has no values")
        return train, test, features

    # The fingerprint of an engine table is its sample's content, so the sampling rule needs no entry of its own.
    sample = Sample(rows=d.sample_rows, id=d.id, pulled=pulled) if engines else None
    return Datasets(target, fingerprints, sources, load, engines=engines, sample=sample)


def load_rows(config: Config) -> Datasets:
    """Return the evaluation rows of `model.format: results` (data.test) as Datasets: no train table, no target.

    The rows must have the data.id column, one distinct value per row, and the slice columns.
    """
    d = config.data
    assert isinstance(d.test, str) and d.id is not None  # Config.results_problems
    uri = config.locate(d.test)
    raw = read_bytes(uri, s3_options=s3_options(config), confined_to=confinement(config, d.test))
    ident = d.id

    def load() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
        frame = parse_table(uri, raw, d.read_options)
        if len(frame) == 0:
            raise DataError(f"{uri}: the table has no rows")
        require_columns(frame, [ident, *d.slices], uri=uri, field="data.id/slices")
        ids = frame[ident]
        if ids.isna().any():
            raise DataError(f"{uri}: data.id column '{ident}' is empty in {int(ids.isna().sum())} row(s)")
        repeated = ids[ids.duplicated()].astype(str).unique().tolist()
        if repeated:
            raise DataError(f"{uri}: data.id column '{ident}' repeats the id(s) {', '.join(repeated[:10])}")
        return frame.iloc[:0], frame, [c for c in frame.columns if c != ident]

    return Datasets("", {"test": hashlib.sha256(raw).hexdigest()}, {"test": uri}, load)


def _checked_frame(uri: str, raw: bytes, target: str, options: dict[str, Any]) -> pd.DataFrame:
    frame = parse_table(uri, raw, options)
    if len(frame) == 0:
        raise DataError(f"{uri}: the table has no rows")
    require_columns(frame, [target], uri=uri, field="data.target")
    require_target_values(frame, target, uri)
    return frame


def require_target_values(frame: pd.DataFrame, target: str, uri: str) -> None:
    """Raise DataError naming the rows whose target is empty: no model learns from or is scored on them."""
    missing = frame[target].isna().to_numpy().nonzero()[0]
    if 0 < len(missing) < len(frame):
        rows = ", ".join(str(i + 1) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DataError(
            f"{uri}: target column '{target}' is empty in {len(missing)} of {len(frame)} rows (data rows {rows})",
            hint="drop those rows or fill in the target",
        )


def feature_columns(config: Config, frame: pd.DataFrame) -> list[str]:
    """Return the configured features, or every column but the target, the id and identifier-like ones."""
    if config.data.features is not None:
        return list(config.data.features)
    from mlci.data.features import config_kinds

    return config_kinds(config, frame).used


def _default_split() -> Any:
    from mlci.config.schema import SplitSection

    return SplitSection()


def _split_by_time(frame: pd.DataFrame, column: str, test_size: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) with the latest `test_size` of rows by `column` in test: no future row in training.

    Rows sharing the cut-off time all go to the test side, so every test row is strictly later
    than every training row.
    """
    import math

    import pandas as pd

    if column not in frame.columns:
        raise DataError(f"data.split.by: the table has no column {column!r}", hint="name a date or time column")
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values.dtype) and not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)
    if values.isna().any():
        bad = int(values.isna().sum())
        raise DataError(
            f"data.split.by: {bad} rows of column {column!r} have no date or time", hint="fill or drop them"
        )
    order = values.sort_values(kind="stable")
    n_test = max(1, math.ceil(len(frame) * test_size))
    cut = order.iloc[len(order) - n_test]
    later = (values >= cut).to_numpy()
    if later.all():
        raise DataError(f"data.split.by: every row of {column!r} has the same latest time, so none is left to train on")
    return frame[~later].reset_index(drop=True), frame[later].reset_index(drop=True)


def split_table(
    frame: pd.DataFrame, config: Config, split: SplitSection | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, test) rows of one table by a seeded split rule (default: the config's)."""
    from sklearn.model_selection import train_test_split

    split = split or config.data.split or _default_split()
    if split.by is not None:
        return _split_by_time(frame, split.by, split.test_size)
    target = frame[config.data.target]
    stratify = target if split.stratify and config.model.task == "classification" else None
    try:
        train, test = train_test_split(frame, test_size=split.test_size, random_state=split.seed, stratify=stratify)
    except ValueError as e:
        raise DataError(f"data.split: cannot split the table: {e}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)
