"""What kind of feature each column is, and the transformers the default preprocessing needs for them.

`mlci init` and training read the same `column_kind`, so the columns init keeps are the ones
training can use; `mlci.transformers` holds what the default preprocessing does with each kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from mlci.config.schema import Config

Kind = Literal["numeric", "boolean", "categorical", "datetime", "text", "identifier", "empty"]

# A string column with at most this many distinct values, or whose values repeat on average
# 20 times or more, is categorical; beyond that it is free text (several words) or an identifier.
MAX_CATEGORIES = 50
MIN_REPEATS = 20
TEXT_WORDS = 3.0
TEXT_HASH_FEATURES = 64
DATE_PARTS = ("year", "month", "day", "weekday", "hour", "days")
SAMPLE = 2000

# Kinds the default preprocessing leaves out of the features, and why (said in words to the user).
EXCLUDED: dict[str, str] = {"identifier": "an identifier (unique-looking strings)", "empty": "always empty"}


def _strings(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series))


def column_kind(series: pd.Series) -> Kind:
    """Return the kind of feature a column holds, judged by its dtype and (for strings) its values."""
    import pandas as pd

    values = series.dropna()
    if values.empty:
        return "empty"
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    if not _strings(series):
        return "categorical"
    sample = values.sample(min(SAMPLE, len(values)), random_state=0) if len(values) > SAMPLE else values
    if all(isinstance(v, bool) for v in sample):
        return "boolean"  # a bool column with missing values is read as object
    text = sample.astype(str)
    if _looks_like_dates(text):
        return "datetime"
    distinct = values.nunique()
    if distinct <= MAX_CATEGORIES or len(values) >= MIN_REPEATS * distinct:
        return "categorical"
    if float(text.str.split().str.len().mean()) >= TEXT_WORDS:
        return "text"
    return "identifier"


def _looks_like_dates(text: pd.Series) -> bool:
    """Return whether (nearly) every string is an ISO 8601 date or timestamp."""
    import pandas as pd

    if not text.str.match(r"^\d{4}-\d{2}-\d{2}").mean() >= 0.99:
        return False
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    return bool(parsed.notna().mean() >= 0.99)


@dataclass(frozen=True)
class FeatureKinds:
    """The kind of every candidate feature column, and the ones the default preprocessing leaves out."""

    kinds: dict[str, Kind]
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it is left out

    def of(self, *kinds: Kind) -> list[str]:
        """Return the columns of the given kinds, in table order."""
        return [c for c, k in self.kinds.items() if k in kinds]

    @property
    def used(self) -> list[str]:
        """Return the columns the default preprocessing turns into features."""
        return [c for c in self.kinds if c not in self.excluded]

    def notes(self) -> list[str]:
        """Return one sentence per column left out or transformed, for the terminal and the report."""
        out = [f"column '{c}' left out of the features: {why}" for c, why in self.excluded.items()]
        dates = self.of("datetime")
        if dates:
            out.append(f"datetime column(s) {', '.join(dates)} become numbers ({', '.join(DATE_PARTS)})")
        text = [c for c in self.of("text") if c not in self.excluded]
        if text:
            out.append(f"free-text column(s) {', '.join(text)} are hashed into {TEXT_HASH_FEATURES} word counts each")
        return out


def feature_kinds(frame: pd.DataFrame, columns: list[str], *, explicit: bool = False) -> FeatureKinds:
    """Return the kinds of `columns` in `frame`; unless `explicit`, identifiers and empty columns are left out."""
    kinds = {c: column_kind(frame[c]) for c in columns}
    excluded = {} if explicit else {c: EXCLUDED[k] for c, k in kinds.items() if k in EXCLUDED}
    return FeatureKinds(kinds, excluded)


def config_kinds(config: Config, frame: pd.DataFrame) -> FeatureKinds:
    """Return the kinds of the features `config` names, or of every column but target and id when it names none."""
    d = config.data
    if d.features is not None:
        return feature_kinds(frame, list(d.features), explicit=True)
    return feature_kinds(frame, [str(c) for c in frame.columns if c not in (d.target, d.id)])
