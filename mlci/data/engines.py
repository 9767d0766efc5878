"""Tables that live in an engine (a SQL database or Spark): validated, profiled and sampled there.

A file table is read into pandas (mlci/data/tables.py). An engine table never is: Great Expectations
runs the suite through its own SQL or Spark datasource, drift profiles are aggregate queries,
and only a deterministic sample (`data.sample_rows`, the first N rows by md5 of the id column)
is pulled into pandas for training and scoring.

The aggregates are written here rather than taken from GX because GX has no metric for
"counts per bin at given edges" or "the k most frequent categories with counts"; they are
plain SQLAlchemy Core / Spark DataFrame expressions, one scan per kind of question.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import itertools
import math
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlci._internal.redaction import redact, redact_url, split_userinfo, url_secrets
from mlci._internal.text import first_line
from mlci.errors import DataError, ServiceError, UsageError

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import SparkSource, SqlSource, TableSource
    from mlci.contracts.drift import CategoricalEntry, NumericEntry, Profile
    from mlci.contracts.validation import ValidationResult
    from mlci.stats.drift import Observed

#: How many of a categorical column's most frequent categories the engine returns for current data;
#: rows in rarer categories are counted as `rest` (they fall in the profile's __other__ bucket).
CURRENT_CATEGORIES = 5000
#: Rows read from a SQL table to learn its columns' types (their values are not used).
_PROBE_ROWS = 200
#: Relative error of Spark's approxQuantile for the profile's bin edges.
_SPARK_QUANTILE_ERROR = 1e-4


def is_engine(source: TableSource | None) -> bool:
    """Return whether `source` is a SQL or Spark table rather than a file."""
    return source is not None and not isinstance(source, str)


def describe(source: TableSource) -> str:
    """Return how a table is shown to users: its path, or its engine and table with the password redacted."""
    from mlci.config.schema import SqlSource

    if isinstance(source, str):
        return source
    if isinstance(source, SqlSource):
        what = f"table {source.table}" if source.table is not None else "query"
        return f"{redact_url(source.sql)} {what}"
    what = f"path {source.path}" if source.path is not None else f"table {source.table}"
    return f"spark {source.spark} {what}"


def parse_source(text: TableSource, env: Mapping[str, str] | None = None) -> TableSource:
    """Return the table a command-line argument names: a path or URI, or a mapping like `{sql: URL, table: T}`.

    `${VAR}` in the mapping's values is filled from `env` after the YAML is parsed, so a password
    holding `'`, `}` or `, ` can neither change the mapping's shape nor appear in a YAML error.
    """
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return text
    import yaml
    from pydantic import TypeAdapter, ValidationError

    from mlci._internal.nesting import NestingError, load_yaml
    from mlci.config.schema import SparkSource, SqlSource, interpolate

    try:
        raw = load_yaml(text)
    except NestingError as e:
        shown = redact(text)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        raise UsageError(f"{shown}: {e.problem}", hint=e.hint) from None
    except yaml.YAMLError as e:
        raise UsageError(f"{redact(text)}: not a YAML mapping ({getattr(e, 'problem', e)})") from None
    if isinstance(raw, dict) and env is not None:
        try:
            raw = {k: interpolate(v, env) if isinstance(v, str) else v for k, v in raw.items()}
        except KeyError as e:
            raise UsageError(f"environment variable {e.args[0]} is not set (named in the table argument)") from None
    try:
        return TypeAdapter(SqlSource | SparkSource).validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "table"
        raise UsageError(
            f"{redact(text)}: {where}: {first['msg'].removeprefix('Value error, ')}",
            hint="write {sql: URL, table: NAME}, {sql: URL, query: 'SELECT ...'} or {spark: MASTER, path: PATH}",
        ) from None


def open_table(source: SqlSource | SparkSource, *, field: str) -> EngineTable:
    """Return the engine table `source` names (`field` says where in mlci.yaml, for messages)."""
    from mlci.config.schema import SqlSource

    return SqlTable(source, field) if isinstance(source, SqlSource) else SparkTable(source, field)


#: PostgreSQL's SQLSTATE query_canceled: its statement_timeout (or an administrator) cancelled the query.
_QUERY_CANCELED = "57014"


def _timeout_error(message: str, setting: str, field: str, advice: str) -> ServiceError:
    """Return the one exit-4 line for a table whose engine ran past its `setting` (`advice` leads the hint)."""
    where = f"{setting} in the {field} mapping" if field.startswith("--") else f"{field}.{setting}"
    return ServiceError(message, hint=f"{advice} raise {where}")


def _missing_extra(extra: str, module: str, field: str) -> DataError:
    return DataError(
        f"{field}: a {extra.upper() if extra == 'sql' else extra.capitalize()} table needs the '{extra}' extra "
        f"(no module named '{module}')",
        hint=f"pip install 'mlci[{extra}]'",
    )


@dataclass
class _Numeric:
    """Aggregates of one numeric column: non-null count, cumulative counts at edges, mean/std/min/max."""

    count: int
    cumulative: list[int]
    stats: tuple[Any, Any, Any, Any] | None


class EngineTable(abc.ABC):
    """A table in a SQL database or in Spark, asked questions in its engine."""

    field: str
    label: str

    # --- what each engine answers ---------------------------------------------------------

    @abc.abstractmethod
    def columns(self) -> dict[str, bool]:
        """Return each column's name and whether it is categorical (not numeric, or boolean)."""

    @abc.abstractmethod
    def rows(self) -> int:
        """Return the number of rows."""

    @abc.abstractmethod
    def validate(self, suite_path: str) -> ValidationResult:
        """Return the suite's result on the whole table, run by GX in the engine."""

    @abc.abstractmethod
    def sample(self, id_column: str | None, n: int | None) -> pd.DataFrame:
        """Return the first `n` rows by md5 of `id_column` (all rows when `n` is None) as a DataFrame."""

    @abc.abstractmethod
    def _quantiles(self, columns: list[str], levels: list[float]) -> dict[str, list[Any]]:
        """Return each column's values at the quantile `levels` (nulls ignored)."""

    @abc.abstractmethod
    def _aggregates(
        self, numeric: dict[str, list[float]], counted: list[str]
    ) -> tuple[int, dict[str, _Numeric], dict[str, int]]:
        """Return (rows, numeric aggregates at the given edges, non-null count of each `counted` column), one scan."""

    @abc.abstractmethod
    def _top_categories(self, column: str, limit: int) -> list[tuple[Any, int]]:
        """Return up to `limit` (value, count) of the non-null values, most frequent first."""

    # --- built on those -------------------------------------------------------------------

    def _require(self, names: list[str], what: str) -> dict[str, bool]:
        kinds = self.columns()
        missing = [n for n in names if n not in kinds]
        if missing:
            shown = ", ".join(list(kinds)[:12])
            raise DataError(
                f"{self.label}: no column {', '.join(repr(m) for m in missing)} ({what}); the table has: {shown}"
            )
        return kinds

    def profile(
        self, features: list[str], *, categorical: list[str] | None = None, bins: int = 10, top_k: int = 20
    ) -> Profile:
        """Return the drift profile of the whole table, as `drift.build_profile` gives it, without predictions."""
        from mlci.contracts.drift import Profile
        from mlci.stats.drift import MAX_NAMED, categorical_entry, edge_quantiles, numeric_entry, quantile_edges

        kinds = self._require(features, "a profiled feature")
        forced = set(categorical or [])
        names = list(dict.fromkeys(features))
        numeric = [n for n in names if n not in forced and not kinds[n]]
        cats = [n for n in names if n not in numeric]
        quantiles = self._quantiles(numeric, edge_quantiles(bins)) if numeric else {}
        edges = {n: quantile_edges(quantiles.get(n, [])) for n in numeric}
        rows, aggregates, nonnull = self._aggregates(edges, cats)
        if rows == 0:
            raise DataError(
                f"{self.label}: the reference table has no rows", hint="a drift profile needs training data"
            )
        entries: dict[str, NumericEntry | CategoricalEntry] = {}
        for name in names:
            if name in aggregates:
                agg = aggregates[name]
                entries[name] = numeric_entry(
                    edges[name], _bins(agg), nulls=rows - agg.count, rows=rows, stats=agg.stats
                )
            else:
                limit = top_k + MAX_NAMED + 1
                counts = _labels(self._top_categories(name, limit))
                rest = nonnull[name] - sum(counts.values())
                complete = len(counts) < limit
                entry = categorical_entry(
                    counts, nulls=rows - nonnull[name], rows=rows, top_k=top_k, rest=rest, complete=complete
                )
                if complete:  # every category's count is known: the unseen-category estimate's inputs, as pandas'
                    values = list(counts.values())
                    entry = entry.model_copy(update={"singletons": values.count(1), "doubletons": values.count(2)})
                entries[name] = entry
        return Profile(rows=rows, features=entries, predictions=None)

    def observe(self, entries: Mapping[str, NumericEntry | CategoricalEntry]) -> tuple[int, dict[str, Observed]]:
        """Return (rows, what the table holds in each profiled column over the profile's bins or categories)."""
        from mlci.contracts.drift import NumericEntry
        from mlci.stats.drift import Observed

        self._require(list(entries), "the reference profile holds it; add it, or list it under drift.ignore")
        numeric = {n: entry.inner_edges for n, entry in entries.items() if isinstance(entry, NumericEntry)}
        cats = [n for n in entries if n not in numeric]
        rows, aggregates, nonnull = self._aggregates(numeric, cats)
        if rows == 0:
            raise DataError(f"{self.label}: the current table has no rows", hint="drift needs fresh data to compare")
        out: dict[str, Observed] = {}
        for name in entries:
            if name in numeric:
                agg = aggregates[name]
                out[name] = Observed(rows=rows, nulls=rows - agg.count, bins=_bins(agg))
            else:
                counts = _labels(self._top_categories(name, CURRENT_CATEGORIES))
                rest = nonnull[name] - sum(counts.values())
                out[name] = Observed(rows=rows, nulls=rows - nonnull[name], categories=counts, rest=rest)
        return rows, out


def _bins(agg: _Numeric) -> list[int]:
    """Return counts per right-closed bin from cumulative counts `count(x <= edge)` and the non-null count."""
    bounds = [*agg.cumulative, agg.count]
    return [bounds[0], *(b - a for a, b in itertools.pairwise(bounds))]


def _labels(pairs: list[tuple[Any, int]]) -> dict[str, int]:
    """Return category counts keyed as the pandas path keys them (str of the value), most frequent first."""
    counts: dict[str, int] = {}
    for value, count in pairs:
        label = str(value)
        counts[label] = counts.get(label, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def frame_fingerprint(frame: pd.DataFrame, label: str) -> str:
    """Return the sha256 of a sampled frame's columns and values (and where it came from)."""
    import pandas as pd

    digest = hashlib.sha256(label.encode())
    digest.update("\0".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# --- SQL ---------------------------------------------------------------------------------------


class SqlTable(EngineTable):
    """A table or query in a database SQLAlchemy can reach (PostgreSQL tested)."""

    def __init__(self, source: SqlSource, field: str) -> None:
        self.source = source
        self.field = field
        self.label = describe(source)
        self._engine: Any = None
        self._kinds: dict[str, bool] | None = None

    def _scrub(self, text: str) -> str:
        """Return a driver's message with URL credentials and this table's password (in every form) masked."""
        return redact(text, secrets=url_secrets(self.source.sql))

    def _url(self) -> Any:
        """Return the SQLAlchemy URL; its userinfo ends at the last `@`, as mlci._internal.redaction reads it.

        SQLAlchemy's own parser ends the password at the first `@`, so a password with an unescaped
        `@` would put its tail into the host (and into the driver's "could not translate host name"
        message). Splitting where the redactor splits gives the driver what the user wrote and keeps
        what is redacted exactly what is sent.
        """
        from urllib.parse import unquote

        from sqlalchemy.engine import make_url

        scheme, userinfo, rest = split_userinfo(self.source.sql)
        if userinfo is None:
            return make_url(self.source.sql)
        url = make_url(scheme + rest)
        user, colon, password = userinfo.partition(":")
        # SQLAlchemy URL-decodes both; so does this, so `%40` still means `@`.
        return url.set(username=unquote(user), password=unquote(password) if colon else None)

    def _connect_args(self, url: Any) -> dict[str, Any]:
        """Return the driver arguments that bound connecting and each statement, where the driver has them."""
        connect, statement = self.source.connect_timeout, self.source.statement_timeout
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if backend == "postgresql" and driver in ("psycopg2", "psycopg"):
            # libpq: connect_timeout (whole seconds) covers the TCP connect, TLS and authentication;
            # `-c statement_timeout` sets the server's limit for these sessions only. The URL's own
            # `options` come first, so mlci.yaml's statement_timeout is the one that holds.
            own = url.query.get("options")
            options = f"-c statement_timeout={max(1, round(statement * 1000))}"
            return {
                "connect_timeout": max(1, math.ceil(connect)),
                "options": f"{own} {options}" if isinstance(own, str) and own else options,
            }
        if backend in ("mysql", "mariadb") and driver in ("pymysql", "mysqldb"):
            # Both drivers' documented arguments, in whole seconds; read_timeout bounds the wait for a result.
            return {"connect_timeout": max(1, math.ceil(connect)), "read_timeout": max(1, math.ceil(statement))}
        return {}

    @property
    def engine(self) -> Any:
        if self._engine is None:
            try:
                import sqlalchemy as sa
                from sqlalchemy import exc
            except ImportError as e:
                raise _missing_extra("sql", e.name or "sqlalchemy", self.field) from None
            try:
                url = self._url()
                self._engine = sa.create_engine(url, pool_pre_ping=False, connect_args=self._connect_args(url))
            except exc.NoSuchModuleError as e:
                raise DataError(f"{self.field}: {redact_url(self.source.sql)}: unknown SQL dialect ({e})") from None
            except (exc.ArgumentError, ValueError):
                raise DataError(
                    f"{self.field}: '{redact_url(self.source.sql)}' is not a SQLAlchemy URL",
                    hint="write dialect+driver://user:password@host:port/database",
                ) from None
            except ImportError as e:
                raise DataError(
                    f"{self.field}: the database driver '{e.name}' for {redact_url(self.source.sql).split('://')[0]} "
                    "is not installed",
                    hint="pip install 'mlci[sql]' for PostgreSQL (psycopg2), or that driver for other databases",
                ) from None
        return self._engine

    def _timeout(self, error: Any, doing: str, started: float) -> ServiceError | None:
        """Return the exit-4 error when a wrapped driver `error` is a connect or statement timeout, else None."""
        seconds = time.monotonic() - started
        if error.statement is None:  # SQLAlchemy had no statement to run: connecting failed
            # "timeout expired" is libpq's own word for its connect_timeout.
            if "timeout expired" in str(error.orig) or seconds >= self.source.connect_timeout:
                return _timeout_error(
                    f"{self.label}: the database did not answer within connect_timeout "
                    f"({self.source.connect_timeout:g} s)",
                    "connect_timeout",
                    self.field,
                    "check the host and port, or",
                )
            return None
        code = getattr(error.orig, "pgcode", None) or getattr(error.orig, "sqlstate", None)
        if code == _QUERY_CANCELED or seconds >= self.source.statement_timeout:
            return _timeout_error(
                f"{self.label}: {doing} ran past statement_timeout ({self.source.statement_timeout:g} s) "
                "and was cancelled",
                "statement_timeout",
                self.field,
                "make the query cheaper, or",
            )
        return None

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn driver errors into one line with the password scrubbed: a timeout exit 4, anything else exit 2."""
        from pandas.errors import DatabaseError
        from sqlalchemy import exc

        started = time.monotonic()
        try:
            try:
                yield
            except DatabaseError as e:  # pandas.read_sql wraps the driver's error; raise that instead
                if isinstance(e.__cause__, exc.SQLAlchemyError):
                    raise e.__cause__ from None
                raise DataError(f"{self.label}: {doing} failed: {self._scrub(first_line(e))}") from None
        except exc.DBAPIError as e:
            if (timeout := self._timeout(e, doing, started)) is not None:
                raise timeout from None
            verb = f"cannot {doing}" if isinstance(e, exc.OperationalError) else f"{doing} failed"
            raise DataError(f"{self.label}: {verb}: {self._scrub(first_line(e.orig or e))}") from None
        except exc.SQLAlchemyError as e:
            raise DataError(f"{self.label}: {doing} failed: {self._scrub(first_line(e))}") from None

    def _name(self) -> tuple[str | None, str]:
        assert self.source.table is not None
        schema, _, table = self.source.table.rpartition(".")
        return schema or None, table

    def _relation(self) -> str:
        """Return a SELECT of the table's rows: the query, or SELECT * of the quoted table."""
        if self.source.query is not None:
            return self.source.query.strip().rstrip(";")
        quote = self.engine.dialect.identifier_preparer.quote
        schema, table = self._name()
        return f"SELECT * FROM {quote(schema) + '.' if schema else ''}{quote(table)}"

    def _sub(self, names: list[str] | None = None) -> Any:
        import sqlalchemy as sa

        names = list(self.columns()) if names is None else names
        return sa.text(self._relation()).columns(*(sa.column(n) for n in names)).subquery("mlci_t")

    def columns(self) -> dict[str, bool]:
        if self._kinds is None:
            engine = self.engine  # first: a missing extra or driver is named before anything else
            import pandas as pd
            import sqlalchemy as sa

            from mlci.stats.drift import _is_categorical

            with self._errors("connect"), engine.connect() as conn:
                if self.source.table is not None:
                    schema, table = self._name()
                    if not sa.inspect(conn).has_table(table, schema=schema):
                        raise DataError(
                            f"{self.label}: no such table in the database",
                            hint=f"check {self.field}.table (and its schema)",
                        )
            probe = sa.select(sa.text("*")).select_from(sa.text(f"({self._relation()}) AS mlci_t")).limit(_PROBE_ROWS)
            with self._errors("the query"), engine.connect() as conn:
                frame = pd.read_sql(probe, conn)
            self._kinds = {str(c): _is_categorical(frame[c]) for c in frame.columns}
        return self._kinds

    def rows(self) -> int:
        import sqlalchemy as sa

        with self._errors("count rows"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self._sub([]))).scalar_one())

    def validate(self, suite_path: str) -> ValidationResult:
        from mlci.data.validation import run_suite

        self.columns()  # a missing table or failing query is one clear line, before GX sees it

        import sqlalchemy as sa

        url = self._url()
        cancelled: list[BaseException] = []

        def batch(context: Any) -> tuple[Any, None]:
            # The URL as SQLAlchemy writes it (password percent-encoded: GX re-parses it and would read
            # `${...}` in it as its own config variable), with the same timeouts as mlci's engine.
            source = context.data_sources.add_sql(
                name="mlci",
                connection_string=url.render_as_string(hide_password=False),
                create_temp_table=False,
                kwargs={"connect_args": self._connect_args(url)},
            )

            if self.source.table is not None:
                schema, table = self._name()
                asset = source.add_table_asset(name="table", table_name=table, schema_name=schema)
            else:
                asset = source.add_query_asset(name="table", query=self._relation())
            return asset.add_batch_definition_whole_table("all"), None

        timeout = _timeout_error(
            f"{self.label}: a validation query ran past statement_timeout ({self.source.statement_timeout:g} s) "
            "and was cancelled",
            "statement_timeout",
            self.field,
            "make the suite's queries cheaper, or",
        )

        def rows() -> int:
            if cancelled:  # not another scan of the table that just ran out of time
                raise timeout
            return self.rows()

        # GX records an expectation's exception as a failed expectation and runs the next query; a
        # timeout is the database's failure, not the data's. So the first cancelled query is noted,
        # every later one is refused before it is sent (else each would wait out its own timeout),
        # and the timeout is raised below. GX's execution engine builds engines of its own from the
        # URL, hence listeners on every Engine while GX runs.
        def handle_error(context: Any) -> None:
            error = context.original_exception
            if (getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)) == _QUERY_CANCELED:
                cancelled.append(error)

        def before_cursor_execute(*args: Any) -> None:
            if cancelled:
                raise timeout

        listeners = {"handle_error": handle_error, "before_cursor_execute": before_cursor_execute}
        for name, listener in listeners.items():
            sa.event.listen(sa.engine.Engine, name, listener)
        try:
            with self._errors("validation"):
                result = run_suite(suite_path, batch, table=self.label, rows=rows)
        finally:
            for name, listener in listeners.items():
                sa.event.remove(sa.engine.Engine, name, listener)
        if cancelled:
            raise timeout
        return result if self.source.query is None else _types_unknown_on_a_query(result)

    def sample(self, id_column: str | None, n: int | None) -> pd.DataFrame:
        import pandas as pd
        import sqlalchemy as sa

        self._require([id_column] if id_column else [], "data.id")
        sub = self._sub()
        query = sa.select(sub)
        if id_column is not None:
            # md5 of the id's text: the same rows every run, spread over the table, chosen in the engine.
            query = query.order_by(sa.func.md5(sa.cast(sub.c[id_column], sa.Text)), sub.c[id_column])
        if n is not None:
            query = query.limit(n)
        with self._errors("the sample query"), self.engine.connect() as conn:
            return pd.read_sql(query, conn)

    def _quantiles(self, columns: list[str], levels: list[float]) -> dict[str, list[Any]]:
        import sqlalchemy as sa

        sub = self._sub()
        exprs = []
        for name in columns:
            value = sa.cast(sub.c[name], sa.Float)
            if self.engine.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import ARRAY, array

                # One ordered-set aggregate per column returns every level at once.
                exprs.append(sa.func.percentile_cont(array(levels), type_=ARRAY(sa.Float)).within_group(value))
            else:
                exprs.extend(sa.func.percentile_cont(q).within_group(value) for q in levels)
        with self._errors("the quantile query"), self.engine.connect() as conn:
            row = list(conn.execute(sa.select(*exprs).select_from(sub)).one())
        if self.engine.dialect.name == "postgresql":
            return {name: list(row[i] or []) for i, name in enumerate(columns)}
        k = len(levels)
        return {name: row[i * k : (i + 1) * k] for i, name in enumerate(columns)}

    def _aggregates(
        self, numeric: dict[str, list[float]], counted: list[str]
    ) -> tuple[int, dict[str, _Numeric], dict[str, int]]:
        import sqlalchemy as sa

        sub = self._sub()
        exprs: list[Any] = [sa.func.count()]
        for name, edges in numeric.items():
            value = sa.cast(sub.c[name], sa.Float)
            exprs += [sa.func.count(value), sa.func.avg(value), sa.func.stddev_pop(value)]
            exprs += [sa.func.min(value), sa.func.max(value)]
            exprs += [sa.func.count(sa.case((value <= edge, 1))) for edge in edges]
        exprs += [sa.func.count(sub.c[name]) for name in counted]
        with self._errors("the aggregate query"), self.engine.connect() as conn:
            row = list(conn.execute(sa.select(*exprs).select_from(sub)).one())
        return _unpack(row, numeric, counted)

    def _top_categories(self, column: str, limit: int) -> list[tuple[Any, int]]:
        import sqlalchemy as sa

        sub = self._sub()
        col = sub.c[column]
        n = sa.func.count().label("n")
        query = sa.select(col, n).where(col.is_not(None)).group_by(col).order_by(n.desc(), col).limit(limit)
        with self._errors("the category query"), self.engine.connect() as conn:
            return [(r[0], int(r[1])) for r in conn.execute(query)]


def _unpack(
    row: list[Any], numeric: dict[str, list[float]], counted: list[str]
) -> tuple[int, dict[str, _Numeric], dict[str, int]]:
    """Split one aggregate row laid out as count(*), per numeric column (count, avg, std, min, max, cum...), counts."""
    rows = int(row[0])
    i = 1
    out: dict[str, _Numeric] = {}
    for name, edges in numeric.items():
        count, mean, std, low, high = row[i : i + 5]
        cumulative = [int(c) for c in row[i + 5 : i + 5 + len(edges)]]
        i += 5 + len(edges)
        stats = None if not count else (float(mean), float(std or 0.0), float(low), float(high))
        out[name] = _Numeric(count=int(count), cumulative=cumulative, stats=stats)
    nonnull = {name: int(row[i + j]) for j, name in enumerate(counted)}
    return rows, out, nonnull


# --- Spark -------------------------------------------------------------------------------------


class SparkTable(EngineTable):
    """A Parquet path or catalog table read by Spark (local mode tested)."""

    def __init__(self, source: SparkSource, field: str) -> None:
        self.source = source
        self.field = field
        self.label = describe(source)
        self._spark: Any = None
        self._frame: Any = None

    def _session(self) -> Any:
        if self._spark is None:
            try:
                from pyspark.sql import SparkSession
            except ImportError as e:
                raise _missing_extra("spark", e.name or "pyspark", self.field) from None
            # getOrCreate joins a session the caller (a notebook, a test) already started.
            self._spark = (
                SparkSession.builder.master(self.source.spark)
                .appName("mlci")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .getOrCreate()
            )
        return self._spark

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Bound the block's Spark jobs by job_timeout (exit 4) and turn Spark's errors into one DataError line."""
        from pyspark.errors import PySparkException

        timeout = _timeout_error(
            f"{self.label}: {doing} ran past job_timeout ({self.source.job_timeout:g} s); its Spark jobs were cancelled",
            "job_timeout",
            self.field,
            "make the table cheaper to read, or",
        )
        with _spark_deadline(self._session().sparkContext, self.source.job_timeout) as expired:
            try:
                yield
            except Exception as e:
                if expired.is_set():  # whatever a cancelled job raised (Py4J's or PySpark's error)
                    raise timeout from None
                if isinstance(e, PySparkException):
                    raise DataError(f"{self.label}: {doing} failed: {redact(first_line(e))}") from None
                raise
        if expired.is_set():  # GX records a cancelled job as a failed expectation: the result is not the data's
            raise timeout

    def frame(self) -> Any:
        """Return the table as a (lazy) Spark DataFrame."""
        if self._frame is None:
            spark = self._session()
            with self._errors("reading the table"):
                if self.source.path is not None:
                    self._frame = spark.read.parquet(self.source.path)
                else:
                    self._frame = spark.table(str(self.source.table))
        return self._frame

    def columns(self) -> dict[str, bool]:
        from pyspark.sql.types import BooleanType, NumericType

        return {
            f.name: not isinstance(f.dataType, NumericType) or isinstance(f.dataType, BooleanType)
            for f in self.frame().schema.fields
        }

    def rows(self) -> int:
        with self._errors("count rows"):
            return int(self.frame().count())

    def validate(self, suite_path: str) -> ValidationResult:
        from mlci.data.validation import run_suite

        frame = self.frame()

        def batch(context: Any) -> tuple[Any, dict[str, Any]]:
            # persist=False: GX would otherwise cache the whole table in Spark's memory.
            source = context.data_sources.add_spark(name="mlci", persist=False)
            asset = source.add_dataframe_asset(name="table")
            return asset.add_batch_definition_whole_dataframe("all"), {"dataframe": frame}

        # The count runs under the validation's own deadline (rows() would start a fresh one).
        with self._errors("validation"):
            return run_suite(suite_path, batch, table=self.label, rows=lambda: int(frame.count()))

    def sample(self, id_column: str | None, n: int | None) -> pd.DataFrame:
        from pyspark.sql import functions as F

        self._require([id_column] if id_column else [], "data.id")
        frame = self.frame()
        if id_column is not None:
            frame = frame.orderBy(F.md5(F.col(id_column).cast("string")), F.col(id_column))
        if n is not None:
            frame = frame.limit(n)
        with self._errors("the sample query"):
            return frame.toPandas()

    def _quantiles(self, columns: list[str], levels: list[float]) -> dict[str, list[Any]]:
        from pyspark.sql import functions as F

        frame = self.frame().select(*(F.col(c).cast("double").alias(c) for c in columns))
        with self._errors("the quantile query"):
            values = frame.approxQuantile(columns, levels, _SPARK_QUANTILE_ERROR)
        return {name: list(v) for name, v in zip(columns, values, strict=True)}

    def _aggregates(
        self, numeric: dict[str, list[float]], counted: list[str]
    ) -> tuple[int, dict[str, _Numeric], dict[str, int]]:
        from pyspark.sql import functions as F

        exprs: list[Any] = [F.count(F.lit(1))]
        for name, edges in numeric.items():
            value = F.col(name).cast("double")
            exprs += [F.count(value), F.avg(value), F.stddev_pop(value), F.min(value), F.max(value)]
            exprs += [F.count(F.when(value <= F.lit(edge), 1)) for edge in edges]
        exprs += [F.count(F.col(name)) for name in counted]
        with self._errors("the aggregate query"):
            row = list(self.frame().agg(*exprs).first())
        return _unpack(row, numeric, counted)

    def _top_categories(self, column: str, limit: int) -> list[tuple[Any, int]]:
        from pyspark.sql import functions as F

        frame = self.frame().where(F.col(column).isNotNull()).groupBy(column).count()
        with self._errors("the category query"):
            rows = frame.orderBy(F.desc("count"), F.col(column)).limit(limit).collect()
        return [(r[0], int(r[1])) for r in rows]


@contextlib.contextmanager
def _spark_deadline(context: Any, seconds: float) -> Iterator[threading.Event]:
    """Yield an Event set once `seconds` pass; from then until the block ends, the block's Spark jobs are cancelled.

    Spark has no per-job timeout: the block's jobs carry a job tag of their own (the thread's
    other tags and job group are left alone), and a watcher cancels that tag's jobs at the
    deadline and every tenth of a second after, since GX runs one job after another.
    """
    tag = f"mlci-{uuid.uuid4().hex}"
    interrupt = context.getLocalProperty("spark.job.interruptOnCancel")
    context.addJobTag(tag)
    context.setInterruptOnCancel(True)  # a cancelled task's thread is interrupted, not left to run on
    expired, done = threading.Event(), threading.Event()

    def watch() -> None:
        if done.wait(seconds):
            return
        expired.set()
        while True:
            context.cancelJobsWithTag(tag)
            if done.wait(0.1):
                return

    watcher = threading.Thread(target=watch, name="mlci-spark-deadline", daemon=True)
    watcher.start()
    try:
        yield expired
    finally:
        done.set()
        watcher.join()
        context.removeJobTag(tag)
        context.setLocalProperty("spark.job.interruptOnCancel", interrupt)


# Expectations that read the column types GX gets by reflecting a table; a query has none to reflect.
_TYPE_EXPECTATIONS = ("expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list")


def _types_unknown_on_a_query(result: ValidationResult) -> ValidationResult:
    """Return `result` with the type expectations GX could not run on a query moved from failures to a note.

    GX 1.x reads column types by reflecting a table; for a query asset it has only names, and a
    type expectation ends in a KeyError. That says nothing about the data, so it is not counted
    as a failure; the note says the types were not checked and how to check them.
    """
    from dataclasses import replace

    unknown = [f for f in result.failures if f.type in _TYPE_EXPECTATIONS and f.error is not None]
    if not unknown:
        return result
    kept = [f for f in result.failures if f not in unknown]
    names = ", ".join(f"expectations[{f.index}]" for f in unknown)
    note = (
        f"{names} not checked: GX reads column types by reflecting a table, and this table is a query "
        "(validate the table or a view of it to check types)"
    )
    return replace(result, failures=kept, failed=result.failed - len(unknown), notes=[*result.notes, note])
