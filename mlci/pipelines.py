"""The orchestration behind the commands: check, promote, deploy, rollback, retrain.

Each function takes a Config (and plain arguments), returns a result value and raises
MlciError subclasses; the CLI renders and maps exit codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlci.errors import ConfigError

if TYPE_CHECKING:
    from mlci.config import Config
    from mlci.validation import ValidationResult


def validate_data(config: Config, which: str | None = None) -> list[ValidationResult]:
    """Return the suite's result on each table: the configured ones, `train`, `test`, or a path."""
    from mlci.data import load_datasets, read_table, s3_options
    from mlci.validation import validate

    if config.expectations is None:
        raise ConfigError(f"{config.path}: no 'expectations' section", hint="add expectations.suite: PATH")
    suite = config.resolve(config.expectations.suite)
    if which is not None and which not in ("train", "test"):
        # A path on the command line is relative to where the user stands, not to mlci.yaml.
        table = read_table(which, s3_options=s3_options(config))
        return [validate(table.frame, suite, table=table.uri)]
    datasets = load_datasets(config)
    names = [which] if which else list(config.expectations.tables)
    frames = {"train": datasets.train, "test": datasets.test}
    return [validate(frames[n], suite, table=datasets.sources.get(n, n)) for n in names]
