"""mlci.yaml as pydantic models: load, interpolate ${VAR}, validate, locate errors by line."""

from __future__ import annotations

import os
import re
import stat
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator, model_validator

from mlci._internal.models import Section
from mlci._internal.nesting import NestingError, compose_yaml, construct_yaml
from mlci.errors import ConfigError
from mlci.stats.metrics import METRICS
from mlci.stats.specs import (
    PER_EXAMPLE,
    DriftSection,
    ExampleMetricSpec,
    Gate,
    ImportanceSection,
    MonitorSection,
    StatisticsSection,
    check_metric,
)

DEFAULT_CONFIG = "mlci.yaml"
WORK_DIR = ".mlci"  # beside mlci.yaml; `mlci init` puts it in .gitignore


class SandboxSection(Section):
    """The contained process that scores every model mlci did not train in the same run (docs/security.md)."""

    timeout_seconds: float = Field(
        600,
        gt=0,
        le=86400,
        description="Wall-clock deadline for loading a model and scoring the rows in the contained process; "
        "past it the process is killed (SIGKILL) and the job fails naming the version.",
        examples=[600],
    )
    cpu_seconds: int = Field(
        1800,
        ge=1,
        le=604800,
        description="CPU time the contained process may use, all its threads together (RLIMIT_CPU); "
        "past it the process is stopped by SIGXCPU.",
        examples=[1800],
    )
    memory_mb: int = Field(
        4096,
        ge=64,
        le=1048576,
        description="Address space (MiB, RLIMIT_AS) the contained process may add once its libraries and "
        "the rows to score are loaded: the model, its working memory and its predictions. A model that "
        "asks for more gets a MemoryError (or is killed) and the job fails naming the version.",
        examples=[4096],
    )


class ModelSection(Section):
    """What to train."""

    name: str = Field(
        description="Model name: the registry folder, the PR comment marker and the commit status context.",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        examples=["churn"],
    )
    task: Literal["classification", "regression"] | None = Field(
        None,
        description="The kind of model; it decides which metrics apply. Required unless `format: results`.",
        examples=["classification"],
    )
    estimator: str | None = Field(
        None,
        description="Dotted path of a scikit-learn compatible estimator class, built with `params`. "
        "On a raw table mlci wraps it in default preprocessing (see `preprocessing`).",
        examples=["sklearn.ensemble.HistGradientBoostingClassifier"],
    )
    entrypoint: str | None = Field(
        None,
        description="`module:function` in your repository returning an unfitted estimator "
        "(called with `params` as keyword arguments). Use instead of `estimator`.",
        examples=["src.model:build"],
    )
    # --- models mlci does not fit itself: a command, a file, and the formats they come in ---
    command: str | None = Field(
        None,
        description="Your own training, any framework: a command line run in the repository (split like a "
        "shell would, never run by one). It reads MLCI_TRAIN_DATA (Parquet: the features in data.features "
        "order, then the target), MLCI_FEATURES, MLCI_TARGET, MLCI_TASK, MLCI_PARAMS, MLCI_SEED and writes "
        "model.onnx (or model.skops for `format: skops`) into MLCI_OUTPUT_DIR. Use instead of `estimator`. "
        "With `format: results` it evaluates instead: it gets MLCI_TEST_DATA (the rows), MLCI_ARTIFACTS_DIR "
        "(the version's artifacts), MLCI_OUTPUT_DIR (write results.parquet, .csv or .jsonl there) and "
        "MLCI_PARAMS (docs/llm.md).",
        examples=["python train.py --epochs 5"],
    )
    file: str | None = Field(
        None,
        description="A model trained elsewhere (an earlier job, a GPU runner, a notebook), relative to "
        "mlci.yaml: checked, compared and shipped like one mlci trained. Use instead of `estimator`.",
        examples=["models/model.onnx"],
    )
    format: Literal["skops", "onnx", "results"] = Field(
        "skops",
        description="How mlci stores, loads and scores the model: `skops` (scikit-learn API, loaded with "
        "skops' trusted types), `onnx` (onnxruntime, no custom operators; from a `command` or a `file`) or "
        "`results` (per-example results written by `command`: LLM applications, prompts, remote or foreign "
        "models; mlci never loads a model, it compares the per-example metrics, docs/llm.md).",
        examples=["onnx"],
    )
    timeout_minutes: float = Field(
        60,
        gt=0,
        le=10080,
        description="How long one run of `command` may take; past it its whole process group is killed and "
        "the check fails naming the command.",
        examples=[60],
    )
    classes: list[str | int] | None = Field(
        None,
        description="Class labels of an ONNX classifier, in the order of its probability columns. Unset: the "
        "model's metadata property `classes` (a JSON list), else the sorted labels of the training data.",
        examples=[["setosa", "versicolor", "virginica"]],
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the estimator class or the entrypoint function (a command reads "
        "them as JSON in MLCI_PARAMS).",
        examples=[{"max_iter": 200, "learning_rate": 0.1}],
    )
    preprocessing: Literal["auto", "none"] = Field(
        "auto",
        description="`auto` wraps a dotted-path estimator in impute+scale (numeric) and impute+one-hot "
        "(categorical, unknown categories ignored); `none` passes the raw columns.",
        examples=["auto"],
    )
    random_state: int = Field(
        0,
        description="Seed given to the estimator (when it takes `random_state`) and to data splits.",
        examples=[0],
    )
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Exact, fully qualified type or function names that skops may load from a model file "
        "beyond skops' own default trusted set (no prefixes, no wildcards). Each one is code that runs "
        "when a model loads; only the configuration of the job that loads counts. docs/security.md "
        "lists the names XGBoost, LightGBM and CatBoost models need.",
        examples=[["xgboost.sklearn.XGBClassifier", "xgboost.core.Booster", "builtins.bytearray"]],
    )
    max_model_mb: int = Field(
        2048,
        ge=1,
        description="Largest uncompressed size (MiB) of a model file's members, each and together; "
        "a larger one (a zip bomb) is refused before it is read.",
        examples=[2048],
    )
    sandbox: SandboxSection = Field(
        default_factory=SandboxSection,
        description="Limits of the contained process that loads and scores a model mlci did not train in "
        "this run (the check's baseline, evaluate, promote --from-pr, the smoke test, drift, retrain).",
    )

    # --- format: results (per-example results written by a command; mlci loads no model) ---------
    artifacts: list[str] = Field(
        default_factory=list,
        description="`format: results`: files and directories (relative to mlci.yaml) that make a version: "
        "stored, signed and deployed. A directory is taken whole; a change in any byte is a new version.",
        examples=[["prompts/", "app/config.yaml"]],
    )

    @field_validator("artifacts")
    @classmethod
    def _relative(cls, v: list[str]) -> list[str]:
        for path in v:
            if not path or path.startswith("/") or ".." in Path(path).parts or "\\" in path:
                raise ValueError(f"'{path}' must be a relative path inside the repository (no '..', no leading '/')")
        return v

    # --- end of format: results -----------------------------------------------------------------

    @field_validator("trusted_types")
    @classmethod
    def _exact_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", name):
                raise ValueError(
                    f"'{name}' is not an exact dotted name like 'xgboost.core.Booster' (prefixes and wildcards "
                    "are not allowed: each name is code that runs when a model loads)"
                )
        return v

    @field_validator("estimator")
    @classmethod
    def _dotted(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+", v):
            raise ValueError(f"'{v}' is not a dotted path like 'sklearn.linear_model.LogisticRegression'")
        return v

    @field_validator("entrypoint")
    @classmethod
    def _entry(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
            raise ValueError(f"'{v}' is not 'module:function'")
        return v

    @field_validator("command")
    @classmethod
    def _argv(cls, v: str | None) -> str | None:
        if v is not None:
            import shlex

            try:
                argv = shlex.split(v)
            except ValueError as e:
                raise ValueError(f"{v!r} cannot be split into arguments ({e})") from None
            if not argv:
                raise ValueError("is empty: give the command that trains, e.g. 'python train.py'")
        return v

    @property
    def argv(self) -> list[str]:
        """Return `command` split into arguments, as a shell would split it (none runs it)."""
        import shlex

        return shlex.split(self.command or "")

    @property
    def source(self) -> str:
        """Return the field that says where the model comes from: estimator, entrypoint, command or file."""
        return next(n for n in ("estimator", "entrypoint", "command", "file") if getattr(self, n) is not None)

    @model_validator(mode="after")
    def _one_builder(self) -> ModelSection:
        if self.format == "results":
            if self.command is None or not self.artifacts:
                raise ValueError("format 'results' needs 'command' (what writes the results) and 'artifacts'")
            if self.estimator is not None or self.entrypoint is not None or self.file is not None:
                raise ValueError("format 'results' loads no model: drop 'estimator', 'entrypoint' and 'file'")
            return self
        given = [n for n in ("estimator", "entrypoint", "command", "file") if getattr(self, n) is not None]
        if len(given) != 1:
            said = f" (found {', '.join(given)})" if given else ""
            raise ValueError(
                "give exactly one of 'estimator' (dotted path), 'entrypoint' (module:function), 'command' "
                f"(your own training) or 'file' (a model trained elsewhere){said}"
            )
        if self.format != "skops" and given[0] in ("estimator", "entrypoint"):
            raise ValueError(
                f"format: {self.format} needs a 'command' or a 'file': mlci stores the estimators it fits "
                "itself with skops (write the model with your own training command instead)"
            )
        if self.file is not None and not self.file.endswith(f".{self.format}"):
            raise ValueError(
                f"file {self.file!r} does not end in .{self.format} (model.format is {self.format}); "
                "set model.format to the file's format"
            )
        return self


class SplitSection(Section):
    """How one table is split into train and test rows."""

    test_size: float = Field(0.25, gt=0, lt=1, description="Share of rows held out for testing.", examples=[0.25])
    stratify: bool = Field(
        True, description="Keep the target's class balance in both parts (classification).", examples=[True]
    )
    seed: int = Field(0, description="Seed of the split, so every run splits the same way.", examples=[0])
    by: str | None = Field(
        None,
        description="A date or time column: the split is by time instead of at random, the latest `test_size` "
        "of rows (by this column) are the test set, so no future row leaks into training. `mlci init` "
        "writes it when the table has a datetime column.",
        examples=["signup_date"],
    )


class SqlSource(Section):
    """A table in a SQL database, validated and profiled by the database itself."""

    sql: str = Field(
        description="SQLAlchemy URL of the database; give the password through `${VAR}` (it is redacted "
        "wherever the URL is shown). Needs `pip install 'mlci[sql]'` (PostgreSQL); other dialects GX "
        "supports need their SQLAlchemy driver.",
        examples=["postgresql+psycopg2://mlci:${PGPASSWORD}@db.internal:5432/warehouse"],
    )
    table: str | None = Field(
        None, description="Table name, optionally `schema.table`.", examples=["analytics.churn_train"]
    )
    query: str | None = Field(
        None,
        description="A SELECT whose rows are the table (instead of `table`).",
        examples=["SELECT * FROM churn WHERE signup_date < '2026-01-01'"],
    )
    connect_timeout: float = Field(
        30,
        gt=0,
        description="Seconds to wait for the database to accept a connection (the whole handshake, so a server "
        "that accepts TCP and never answers is cut off too); past it the command stops with exit code 4. "
        "PostgreSQL (psycopg2, psycopg): libpq's `connect_timeout`, in whole seconds. Other dialects: see "
        "docs/data-sources.md.",
        examples=[30],
    )
    statement_timeout: float = Field(
        1800,
        gt=0,
        description="Seconds one query may run (mlci's own and each of GX's); the database cancels a longer one "
        "and the command stops with exit code 4. PostgreSQL (psycopg2, psycopg): `statement_timeout`, set "
        "for mlci's sessions only. Other dialects: see docs/data-sources.md.",
        examples=[1800],
    )

    @model_validator(mode="after")
    def _one_of(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query' with 'sql'")
        if self.query is not None and not re.match(r"\s*(select|with)\b", self.query, re.IGNORECASE):
            raise ValueError("'query' must be a SELECT (or WITH ... SELECT) statement")
        return self


class SparkSource(Section):
    """A table in Spark, validated and profiled by Spark itself."""

    spark: str = Field(
        description="Spark master: `local[2]`, `spark://host:7077`, `yarn`, ... Needs `pip install 'mlci[spark]'`.",
        examples=["local[2]"],
    )
    path: str | None = Field(
        None, description="Parquet file or directory (`s3a://` too).", examples=["s3a://lake/churn/train/"]
    )
    table: str | None = Field(None, description="A table in Spark's catalog.", examples=["lake.churn_train"])
    job_timeout: float = Field(
        1800,
        gt=0,
        description="Seconds one of mlci's Spark queries (reading the table, a count, the profile's aggregates, the "
        "sample, the whole GX validation) may run; past it mlci cancels its Spark jobs and stops with exit code 4.",
        examples=[1800],
    )

    @model_validator(mode="after")
    def _one_of(self) -> SparkSource:
        if (self.path is None) == (self.table is None):
            raise ValueError("give exactly one of 'path' or 'table' with 'spark'")
        return self


#: Where a table is: a CSV/Parquet path or s3:// URI (read into pandas), or a table in an engine.
TableSource = str | SqlSource | SparkSource
_SOURCE_HELP = (
    "A CSV or Parquet path, an `s3://` URI, `{sql: URL, table: NAME}`, `{sql: URL, query: SELECT ...}`, "
    "`{spark: MASTER, path: PARQUET}` or `{spark: MASTER, table: NAME}`."
)


class DataSection(Section):
    """Where the data is and what its columns mean."""

    train: TableSource | None = Field(None, description="Training table. " + _SOURCE_HELP, examples=["data/train.csv"])
    test: TableSource | None = Field(
        None,
        description="Test table scored by both candidate and baseline (same rows for both). " + _SOURCE_HELP,
        examples=["data/test.csv"],
    )
    table: TableSource | None = Field(
        None,
        description="One table to split into train and test instead of `train` + `test`. " + _SOURCE_HELP,
        examples=[None],
    )
    sample_rows: int | None = Field(
        None,
        ge=1,
        description="For SQL and Spark tables: train and score on this many rows per table, the same rows every "
        "run (the first N by md5 of the `id` column, chosen in the engine). Validation and drift still see "
        "the whole table. Unset: the whole table is pulled into pandas for training.",
        examples=[200000],
    )
    split: SplitSection | None = Field(None, description="Split rule for `table`.", examples=[{"test_size": 0.2}])
    target: str | None = Field(
        None, description="Column to predict (not used by `model.format: results`).", examples=["churned"]
    )
    id: str | None = Field(
        None,
        description="Row identifier column, never used as a feature; `model.format: results` aligns the "
        "command's results with the rows by it.",
        examples=["customer_id"],
    )
    slices: list[str] = Field(
        default_factory=list,
        description="Categorical columns whose categories get their own metrics in the report.",
        examples=[["plan", "region"]],
    )
    features: list[str] | None = Field(
        None,
        description="Feature columns; default: every column but the target, the id and identifier-like "
        "strings. Datetimes become numbers (year, month, day, weekday, hour, days), free text is hashed.",
        examples=[None],
    )
    positive_class: str | int | bool | None = Field(
        None,
        description="The class a binary classifier's roc_auc, precision, recall and brier score are about; "
        "default: the last of the two labels in sort order (1, True, 'yes').",
        examples=["churned"],
    )
    read_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for pandas.read_csv / read_parquet, e.g. `{sep: ';', decimal: ','}`. "
        "Without `sep`, a CSV's separator is read from its header (comma, semicolon, tab or pipe).",
        examples=[{"sep": ";"}],
    )

    @model_validator(mode="after")
    def _tables(self) -> DataSection:
        if self.table is not None:
            if self.train is not None or self.test is not None:
                raise ValueError("give either 'table' (with 'split') or 'train' and 'test', not both")
        elif self.test is None or (self.train is None and self.target is not None):
            raise ValueError("give 'train' and 'test' tables, or one 'table' with a 'split' rule")
        if self.sample_rows is not None and self.id is None:
            raise ValueError("'sample_rows' needs 'id': the sample is chosen by a hash of the id column")
        return self


class ExpectationsSection(Section):
    """The Great Expectations suite the data must meet."""

    suite: str = Field(
        description="Path of a GX 1.x expectation suite JSON (as `suite.to_json_dict()` writes it).",
        examples=["expectations/churn.json"],
    )
    tables: list[Literal["train", "test"]] = Field(
        # pydantic copies mutable defaults per instance, so a literal list is safe here.
        default=["train", "test"],
        description="Which tables `mlci check` validates.",
        examples=[["train", "test"]],
    )


class MetricsSection(Section):
    """Which metrics are computed and which one leads."""

    primary: str = Field(description="The metric the report leads with.", examples=["roc_auc"])
    others: list[str] = Field(
        default_factory=list, description="Further metrics to compute and show.", examples=[["accuracy", "log_loss"]]
    )
    statistics: StatisticsSection = Field(
        default_factory=StatisticsSection, description="Confidence intervals and p-values.", examples=[{}]
    )
    per_example: list[ExampleMetricSpec] = Field(
        default_factory=list,
        description="`model.format: results`: the per-example metrics the command writes, one column each; "
        "`primary` and the gates name them.",
        examples=[
            [{"name": "correct", "kind": "binary"}, {"name": "latency_ms", "lower_is_better": True, "summary": "p95"}]
        ],
    )

    @field_validator("primary")
    @classmethod
    def _check_primary(cls, v: str, info: ValidationInfo) -> str:
        return check_metric(v, info)

    @field_validator("others")
    @classmethod
    def _check_others(cls, v: list[str], info: ValidationInfo) -> list[str]:
        for name in v:
            check_metric(name, info)
        return v

    @field_validator("per_example")
    @classmethod
    def _once(cls, v: list[ExampleMetricSpec]) -> list[ExampleMetricSpec]:
        names = [m.name for m in v]
        if len(set(names)) != len(names):
            raise ValueError("each per-example metric name may appear once")
        return v

    @property
    def names(self) -> list[str]:
        """Return the primary metric followed by the others, without repeats."""
        return list(dict.fromkeys([self.primary, *self.others]))


class RegistrySection(Section):
    """Where versions and aliases are kept."""

    uri: str = Field(
        ".mlci/registry",
        description="A local directory (relative to mlci.yaml) or `s3://bucket/prefix`.",
        examples=["s3://ml-models/registry"],
    )
    public_uri: str | None = Field(
        None,
        description="A copy of the registry anyone may read without credentials (e.g. an S3 prefix with anonymous "
        "read). A pull request from a fork gets no secrets: its check reads the baseline from here and writes "
        "nothing. Unset: a fork's check has no baseline, and its report says so.",
        examples=["${MLCI_PUBLIC_REGISTRY:-}"],
    )
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, SeaweedFS, R2, Ceph).", examples=["${S3_ENDPOINT_URL:-}"]
    )
    region: str | None = Field(None, description="S3 region.", examples=["eu-west-1"])
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="`path` for most S3-compatible servers.", examples=["path"]
    )
    locking: Literal["conditional", "none"] = Field(
        "conditional",
        description="`conditional` uses If-Match / If-None-Match so races lose loudly; `none` accepts the risk "
        "on servers without conditional writes.",
        examples=["conditional"],
    )


class EnvironmentSection(Section):
    """A deployment target."""

    description: str | None = Field(None, description="Shown in the GitHub deployment.", examples=["live traffic"])
    url: str | None = Field(
        None, description="Where the environment serves, shown on GitHub's Environments page.", examples=[None]
    )


class DeploySection(Section):
    """How deploys are checked and announced."""

    smoke_rows: int = Field(
        50,
        ge=1,
        le=10000,
        description="Test rows kept with each version to smoke-test its published copy.",
        examples=[50],
    )
    webhook: str | None = Field(
        None, description="URL that receives a signed JSON notice after publishing.", examples=[None]
    )
    webhook_secret_env: str = Field(
        "MLCI_WEBHOOK_SECRET",
        description="Environment variable holding the HMAC-SHA256 secret that signs the webhook body.",
        examples=["MLCI_WEBHOOK_SECRET"],
    )
    webhook_required: bool = Field(
        False, description="Roll back when the webhook fails after retries.", examples=[False]
    )


class RetrainSection(Section):
    """The scheduled retraining job."""

    data: TableSource | None = Field(
        None,
        description="Fresh table; in a path, `{date}` and `{yesterday}` become UTC dates (YYYY-MM-DD). " + _SOURCE_HELP,
        examples=["s3://ml-data/churn/{yesterday}.parquet"],
    )
    holdout: float = Field(
        0.25,
        gt=0,
        lt=1,
        description="Share of fresh rows held out to compare candidate and production.",
        examples=[0.25],
    )
    promote: Literal["none", "staging", "production"] = Field(
        "none", description="Alias moved when the retrained candidate passes the gates.", examples=["staging"]
    )


class ReportSection(Section):
    """The Markdown report."""

    templates: str | None = Field(
        None, description="Directory of your own `*.md.j2` templates overriding mlci's.", examples=[None]
    )
    output: str = Field("report.md", description="Where the report is written.", examples=["report.md"])
    # --- format: results ---
    changed_examples: int = Field(
        10,
        ge=0,
        le=100,
        description="`model.format: results`: how many examples the report lists where the candidate lost, and "
        "as many where it won, on the primary metric (ids and slice values).",
        examples=[10],
    )
    show_examples: bool = Field(
        False,
        description="`model.format: results`: show the changed examples' other columns (questions, answers) too; "
        "off by default, since evaluation data may be private and the report is public on a public repository.",
        examples=[False],
    )


class CardSection(Section):
    """The owner's words in each version's model card (the rest of the card is filled from what mlci knows)."""

    intended_use: str | None = Field(
        None,
        description="What the model is for, and for whom.",
        examples=["Rank customers by churn risk for outreach."],
    )
    limitations: str | None = Field(
        None,
        description="Where it must not be used or is known to be weak.",
        examples=["Not for pricing decisions; trained on EU customers only."],
    )
    owners: list[str] = Field(
        default_factory=list, description="Who is accountable for the model.", examples=[["@data-science/churn"]]
    )
    contact: str | None = Field(None, description="Where to report a problem.", examples=["churn-ml@example.com"])


class OpenMetricsSection(Section):
    """Where `mlci drift` and `mlci monitor` push their OpenMetrics (besides `--openmetrics FILE`)."""

    pushgateway: str | None = Field(
        None,
        description="Prometheus Pushgateway URL; the metrics are pushed there after each run (null: not pushed).",
        examples=["http://pushgateway.monitoring:9091"],
    )
    job: str = Field("mlci", description="The Pushgateway job the metrics are grouped under.", examples=["mlci"])
    timeout_seconds: float = Field(10.0, gt=0, le=300, description="Timeout of the push.", examples=[10])


GITHUB_OIDC_ISSUER = "https://token.actions.githubusercontent.com"


class SigningIdentity(Section):
    """A signer the policy accepts: a certificate identity, or a GitHub Actions workflow (sigstore)."""

    identity: str | None = Field(
        None,
        description="Exact identity: the certificate's e-mail, URI or DNS name (SAN) or its subject CN "
        "(certificate mode); the full certificate identity URI (sigstore).",
        examples=["ml-release@example.com"],
    )
    repository: str | None = Field(
        None,
        description="sigstore: the repository (`owner/name`) whose workflow signed.",
        pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        examples=["acme/churn-model"],
    )
    workflow: str | None = Field(
        None,
        description="sigstore: the workflow file that signed, relative to the repository root.",
        examples=[".github/workflows/pr-check.yml"],
    )
    ref: str = Field(
        "*",
        description="sigstore: the git ref the workflow ran on, a glob (`refs/heads/main`, `refs/pull/*/merge`, "
        "`refs/tags/v*`).",
        examples=["refs/pull/*/merge"],
    )
    issuer: str = Field(
        GITHUB_OIDC_ISSUER,
        description="sigstore: the OpenID Connect issuer of the signer's token (GitHub Actions by default).",
        examples=[GITHUB_OIDC_ISSUER],
    )

    @model_validator(mode="after")
    def _named(self) -> SigningIdentity:
        if self.identity is None and self.repository is None:
            raise ValueError("give 'identity', or 'repository' (with 'workflow' and 'ref') for a GitHub workflow")
        return self


class SigningSection(Section):
    """Sign every stored version (OpenSSF Model Signing) and verify it before it is promoted or deployed."""

    method: Literal["key", "certificate", "sigstore"] = Field(
        description="`key`: an elliptic-curve key pair; `certificate`: a key with an X.509 certificate from your CA; "
        "`sigstore`: keyless, with the GitHub Actions workflow's OIDC identity (needs `permissions: id-token: write`).",
        examples=["key"],
    )
    private_key: str | None = Field(
        None,
        description="PEM private key that signs (key and certificate modes), in the jobs that store versions. "
        "Empty: versions are stored unsigned (and refused later).",
        examples=["${MLCI_SIGNING_KEY:-}"],
    )
    certificate: str | None = Field(
        None,
        description="certificate mode: the PEM signing certificate of `private_key`.",
        examples=["keys/signer.crt"],
    )
    public_keys: list[str] = Field(
        default_factory=list,
        description="key mode: PEM public keys a version may be signed by.",
        examples=[["keys/team.pub"]],
    )
    certificate_chain: list[str] = Field(
        default_factory=list,
        description="certificate mode: PEM CA certificates; sent with each signature, and the roots verification "
        "trusts.",
        examples=[["keys/ca.crt"]],
    )
    identities: list[SigningIdentity] = Field(
        default_factory=list,
        description="certificate and sigstore modes: who may sign. A signature passes when its signer matches one.",
        examples=[[{"repository": "acme/churn-model", "workflow": ".github/workflows/pr-check.yml"}]],
    )

    @field_validator("private_key", "certificate")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        # `${MLCI_SIGNING_KEY_PATH:-}` is empty in jobs without the secret: they sign nothing.
        return v or None

    @model_validator(mode="after")
    def _policy(self) -> SigningSection:
        if self.method == "certificate" and self.private_key and not self.certificate:
            raise ValueError("method 'certificate' signs with 'private_key' and its 'certificate': give both")
        return self


class Config(Section):
    """mlci.yaml."""

    version: Literal[1] = Field(1, description="Schema version of this file.", examples=[1])
    model: ModelSection = Field(description="What to train.")
    data: DataSection = Field(description="Where the data is and what its columns mean.")
    expectations: ExpectationsSection | None = Field(None, description="Data validation with Great Expectations.")
    metrics: MetricsSection = Field(description="Which metrics are computed and which one leads.")
    gates: list[Gate] = Field(default_factory=list, description="Conditions a candidate must meet to pass.")
    registry: RegistrySection = Field(default_factory=RegistrySection, description="Where models are kept.")
    environments: dict[str, EnvironmentSection] = Field(
        default_factory=lambda: {"staging": EnvironmentSection(), "production": EnvironmentSection()},
        description="Deployment targets, by name.",
    )
    deploy: DeploySection = Field(default_factory=DeploySection, description="Deploy checks and notices.")
    drift: DriftSection = Field(default_factory=DriftSection, description="Drift thresholds.")
    retrain: RetrainSection = Field(default_factory=RetrainSection, description="The scheduled job.")
    report: ReportSection = Field(default_factory=ReportSection, description="The Markdown report.")
    card: CardSection = Field(default_factory=CardSection, description="The owner's words in each model card.")
    importance: ImportanceSection = Field(
        default_factory=ImportanceSection, description="Permutation importance of candidate and baseline."
    )
    monitor: MonitorSection = Field(
        default_factory=MonitorSection, description="Production performance once labels arrive."
    )
    openmetrics: OpenMetricsSection = Field(
        default_factory=OpenMetricsSection, description="Pushing drift and monitor metrics to a Pushgateway."
    )
    signing: SigningSection | None = Field(
        None, description="Model signing and the policy versions must meet; without it nothing is signed or checked."
    )

    # Where the file was read from; relative paths in it are relative to this directory.
    _base_dir: Path = Path(".")
    _path: Path = Path(DEFAULT_CONFIG)
    # The credentials in its URLs (see `secrets`), found when ${VAR} was filled in.
    _secrets: frozenset[str] = frozenset()
    # The variables ${VAR} was filled from (the CLI passes the process environment; see `environment`).
    _environment: dict[str, str] = {}

    def task_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return (field path, message) for every metric that does not fit model.task (or model.format: results)."""
        if self.model.format == "results" or self.metrics.per_example:
            return self.results_problems()
        named: list[tuple[tuple[str | int, ...], str]] = [(("metrics", "primary"), self.metrics.primary)]
        named += [(("metrics", "others", i), m) for i, m in enumerate(self.metrics.others)]
        named += [(("gates", i, "metric"), g.metric) for i, g in enumerate(self.gates)]
        return [
            (loc, f"metric '{name}' is for {METRICS[name].task}, but model.task is {self.model.task}")
            for loc, name in named
            if METRICS[name].task != self.model.task
        ]

    def results_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Return (field path, message) for what `model.format: results` needs and this file lacks."""
        if self.model.format != "results":
            return [(("metrics", "per_example"), "per-example metrics need `model.format: results`")]
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if not self.metrics.per_example:
            problems.append((("metrics", "per_example"), "format 'results' needs the per-example metrics it compares"))
        if self.data.id is None:
            problems.append((("data", "id"), "format 'results' aligns the results with the rows by 'id': name it"))
        if self.data.table is not None or not isinstance(self.data.test, str):
            problems.append((("data", "test"), "format 'results' reads its evaluation rows from one file: 'test'"))
        return problems

    def per_example(self, name: str) -> ExampleMetricSpec | None:
        """Return the per-example metric called `name`, if metrics.per_example has one."""
        return next((m for m in self.metrics.per_example if m.name == name), None)

    @property
    def target(self) -> str:
        """Return data.target; ConfigError where it is absent (only `model.format: results` has none)."""
        if self.data.target is None:
            raise ConfigError(f"{self._path}: data.target is required for model.format {self.model.format}")
        return self.data.target

    @property
    def task(self) -> str:
        """Return model.task; ConfigError where it is absent (only `model.format: results` has none)."""
        if self.model.task is None:
            raise ConfigError(f"{self._path}: model.task is required for model.format {self.model.format}")
        return self.model.task

    @property
    def base_dir(self) -> Path:
        return self._base_dir

    @property
    def path(self) -> Path:
        return self._path

    @property
    def work_dir(self) -> Path:
        """Return where mlci keeps bundles, downloads, caches and scratch files: .mlci/ beside mlci.yaml."""
        return self._base_dir / WORK_DIR

    @property
    def environment(self) -> Mapping[str, str]:
        """Return the variables the file was read with: `model.command` (format: results) runs with them."""
        return self._environment

    @property
    def secrets(self) -> frozenset[str]:
        """Return the passwords in the file's URLs and the ${VAR} values filled into their credentials.

        The CLI masks them wherever mlci writes (mlci.redaction.remember): a driver's message may
        echo a password outside any URL the redactor could parse.
        """
        return self._secrets

    def line_of(self, *loc: str | int) -> int | None:
        """Return the 1-based line of `loc` (e.g. "gates", 0) in the mlci.yaml it was loaded from, or None.

        The file is read again (it is small): annotations point at a gate's line after the check.
        None when the config was built without a file or the file no longer reads as YAML.
        """
        if not self._base_dir.is_absolute():
            return None  # built in memory, not loaded from a file
        try:
            root = compose_yaml((self._base_dir / self._path.name).read_text(encoding="utf-8"))
        except (OSError, ValueError, NestingError, _yaml_error()):
            return None
        return _line_of(root, loc) if root is not None else None

    def locate(self, path: str) -> str:
        """Return where a path written in mlci.yaml points: against the config's directory (URIs unchanged)."""
        if "://" in path or os.path.isabs(path):
            return path
        return str(self._base_dir / path)


# --- loading -----------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str], filled: list[str] | None = None) -> str:
    """Return `value` with ${VAR} and ${VAR:-default} replaced from `env`; KeyError names a missing VAR.

    The values taken from `env` are appended to `filled` when it is given.
    """

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if env.get(name):
            if filled is not None:
                filled.append(env[name])
            return env[name]
        if default is not None:
            return default
        if name in env:
            return ""
        raise KeyError(name)

    return _VAR.sub(sub, value)


def _yaml_error() -> type[Exception]:
    import yaml

    return yaml.YAMLError


def _line_of(root: Any, path: tuple[str | int, ...]) -> int:
    """Return the 1-based line of the YAML node at `path`, or of its nearest existing parent."""
    import yaml

    node = root
    line = node.start_mark.line + 1 if node is not None else 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == key:
                    node, line = v, k.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# mlci.yaml is small; a larger file is no mlci.yaml. Its nesting and the expansion of its
# YAML aliases are bounded by mlci._internal.nesting before anything walks it.
MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: str | os.PathLike[str] = DEFAULT_CONFIG, env: Mapping[str, str] | None = None) -> Config:
    """Return the validated Config in `path`; ConfigError lists every problem with its line.

    `env` fills ${VAR} (the CLI passes the process environment; None is an empty one).
    """
    import yaml

    from mlci._internal.redaction import url_secrets

    p = Path(path)
    env = {} if env is None else env
    try:
        info = p.stat()
        if not stat.S_ISREG(info.st_mode):
            # A FIFO would hold the reader until someone writes to it.
            raise ConfigError(f"{p}: not a regular file; mlci reads its config only from a file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES // 1024} KiB; not an mlci.yaml")
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{p}: no such file", hint="run `mlci init` to create one, or pass -c/--config PATH"
        ) from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    try:
        root = compose_yaml(text)
        raw = construct_yaml(root)
    except NestingError as e:
        raise ConfigError(f"{p}:{e.line or 1} {e.problem}", hint=e.hint) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError(f"{p}:{line} invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}:1 expected a mapping of sections (model, data, metrics, ...)")

    problems: list[str] = []
    secrets: set[str] = set()

    def walk(value: Any, loc: tuple[str | int, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str):
            try:
                filled: list[str] = []
                text = interpolate(value, env, filled)
                secrets.update(url_secrets(text, filled))
                return text
            except KeyError as e:
                problems.append(
                    f"{p}:{_line_of(root, loc)} {_format_loc(loc)}: environment variable {e.args[0]} is not set "
                    f"(set it, or write ${{{e.args[0]}:-default}})"
                )
        return value

    data = walk(raw, ())
    # Fields pydantic cannot call required on its own: every format but `results` needs them.
    absent = [
        f"{p}:{_line_of(root, loc)} {_format_loc(loc)}: required field is missing" for loc in _format_fields(data)
    ]
    if not problems:
        try:
            # Gates and the primary metric may name the file's own per-example metrics (format: results).
            config = Config.model_validate(data, context={PER_EXAMPLE: _per_example_names(data)})
        except ValidationError as e:
            for err in e.errors():
                loc = tuple(err["loc"])
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown key '{loc[-1]}'" if loc else "unknown key"
                    close = _close_keys(loc)
                    if close:
                        msg += f" (did you mean '{close[0]}'?)"
                    parent = _format_loc(loc[:-1])
                    where = f"{parent}: " if parent else ""
                    problems.append(f"{p}:{_line_of(root, loc)} {where}{msg}")
                    continue
                if err["type"] == "missing":
                    msg = "required field is missing"
                if err["type"] == "string_pattern_mismatch" and loc == ("model", "name"):
                    msg = (
                        f"{err['input']!r} is not a usable model name: use up to 64 letters, digits, '.', '_' "
                        "or '-', starting with a letter or digit (it names the registry folder), e.g. 'churn-model'"
                    )
                problems.append(f"{p}:{_line_of(root, loc)} {_format_loc(loc) or '(top level)'}: {msg}")
            problems += absent
        else:
            problems += absent
            for loc, msg in config.task_problems() if not absent else []:
                problems.append(f"{p}:{_line_of(root, loc)} {_format_loc(loc)}: {msg}")
            if not problems:
                config._base_dir = p.resolve().parent
                config._path = p
                config._secrets = frozenset(secrets)
                config._environment = dict(env)
                return config
    raise ConfigError(f"{p}: {len(problems)} problem(s)", problems=problems)


def _format_fields(data: Any) -> list[tuple[str, str]]:
    """Return the locations of model.task and data.target where raw mlci.yaml data needs them and lacks them."""
    model = data.get("model") if isinstance(data, dict) else None
    tables = data.get("data") if isinstance(data, dict) else None
    if not isinstance(model, dict) or model.get("format") == "results":
        return []
    missing = [("model", "task")] if model.get("task") is None else []
    return missing + ([("data", "target")] if isinstance(tables, dict) and tables.get("target") is None else [])


def _per_example_names(data: Any) -> list[str]:
    """Return the names under metrics.per_example of raw mlci.yaml data (validated with the rest)."""
    metrics = data.get("metrics") if isinstance(data, dict) else None
    items = metrics.get("per_example") if isinstance(metrics, dict) else None
    if not isinstance(items, list):
        return []
    return [str(m["name"]) for m in items if isinstance(m, dict) and isinstance(m.get("name"), str)]


def _close_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Return the known key closest to the unknown one at `loc` (for "did you mean")."""
    import difflib
    import typing

    def unwrap(tp: Any) -> Any:
        # Optional[X] / X | None -> X
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return unwrap(args[0]) if typing.get_origin(tp) in (typing.Union, types.UnionType) and args else tp

    tp: Any = Config
    for part in loc[:-1]:
        tp = unwrap(tp)
        origin = typing.get_origin(tp)
        if origin in (list, dict):
            tp = typing.get_args(tp)[-1]  # a list item or a mapping's value
        elif isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(part, str) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        else:
            return []
    tp = unwrap(tp)
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return []
    return difflib.get_close_matches(str(loc[-1]), list(tp.model_fields), n=1, cutoff=0.6)


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of mlci.yaml."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlci.yaml"
    return schema
