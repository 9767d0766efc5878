"""A version's reference profile (profile.json), and the drift of fresh data against it.

profile.json is written with the version, by whoever pushed it (a pull request's job too), so
it is read through `Profile`: each entry is a model chosen by its `kind` (numeric or
categorical) and checked for the shape the comparison relies on (one count per bin, edges in
order). A profile that does not fit is one ModelError line naming the field, never an
internal error.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import field
from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    NonNegativeInt,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from mlci._internal.models import Record
from mlci.contracts.parsing import Loc, parse_record

Kind = Literal["numeric", "categorical", "prediction"]
Status = Literal["ok", "warn", "fail"]


@dataclass
class FeatureDrift:
    """The drift of one feature (or of the predictions) and its verdict."""

    feature: str
    kind: Kind
    psi: float
    test: Literal["ks", "chi2"]
    # NaN when a side has no non-null values (the test is undefined then).
    statistic: float
    p_value: float
    null_rate_ref: float
    null_rate_cur: float
    unseen: list[str] = field(default_factory=list)
    status: Status = "ok"
    psi_warn: float = 0.1
    psi_fail: float = 0.25

    @field_validator(
        "psi", "statistic", "p_value", "null_rate_ref", "null_rate_cur", "psi_warn", "psi_fail", mode="before"
    )
    @classmethod
    def _undefined_is_nan(cls, value: Any) -> Any:
        # JSON has no NaN: an undefined statistic is written as null and read back as NaN.
        return math.nan if value is None else value


@dataclass
class DriftReport:
    """Drift of a fresh table against a profile; `features` is sorted worst first."""

    rows_ref: int
    rows_cur: int
    features: list[FeatureDrift]
    status: Status

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[str, int]:
        """Return how many features have each status."""
        out = {"ok": 0, "warn": 0, "fail": 0}
        for f in self.features:
            out[f.status] += 1
        return out


# --- the reference profile (profile.json) ----------------------------------------------------------


class _Entry(Record):
    # strict: a count is a JSON integer, not "7". ignore: keys of a newer mlci are not believed.

    n: NonNegativeInt  # non-null rows
    null_rate: float = Field(ge=0.0, le=1.0)


class NumericEntry(_Entry):
    """A numeric column: counts per right-closed bin between `edges` (`[null, e1, ..., ek, null]`) and its moments."""

    kind: Literal["numeric"] = "numeric"
    edges: list[float | None]
    counts: list[NonNegativeInt]
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bins(self) -> Self:
        if len(self.edges) < 2 or self.edges[0] is not None or self.edges[-1] is not None:
            raise ValueError("edges must be [null, e1, ..., ek, null]")
        inner = self.edges[1:-1]
        if any(e is None or not math.isfinite(e) for e in inner):
            raise ValueError("the inner edges must be finite numbers")
        if any(b < a for a, b in itertools.pairwise(self.inner_edges)):
            raise ValueError("the inner edges must be in increasing order")
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(f"{len(self.counts)} counts for {len(self.edges) - 1} bins")
        return self

    @property
    def inner_edges(self) -> list[float]:
        """Return the finite edges between the bins."""
        return [e for e in self.edges[1:-1] if e is not None]


class CategoricalEntry(_Entry):
    """A categorical column: counts of its most frequent categories, the rest as `other`."""

    kind: Literal["categorical"] = "categorical"
    counts: dict[str, NonNegativeInt]  # the top_k categories (as strings), most frequent first
    other: NonNegativeInt  # non-null rows in the other categories
    other_names: list[str] = []  # more known categories, without counts (not unseen when they come back)
    complete: bool = True  # False: categories beyond `counts` and `other_names` existed (unknown ones are not unseen)


ProfileEntry = Annotated[NumericEntry | CategoricalEntry, Field(discriminator="kind")]


class Profile(Record):
    """profile.json: what the training table held per feature (and the test predictions), for drift."""

    rows: NonNegativeInt
    features: dict[str, ProfileEntry]
    predictions: ProfileEntry | None = None

    @classmethod
    def parse(cls, raw: bytes | str, where: str) -> Profile:
        """Return the profile in `raw` (the bytes of `where`); ModelError naming the bad field otherwise."""
        remedy = "this is not a drift profile mlci wrote — retrain the version"
        return parse_record(cls, raw, where, remedy=remedy, path=_without_kind)

    def dump(self) -> bytes:
        """Return profile.json's bytes: every field, keys sorted, compact (as mlci has always written it)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()


def _without_kind(loc: Loc) -> Loc:
    """Return an error's location without the entry's kind that pydantic puts in it (`features.age.edges`)."""
    at = 2 if loc[:1] == ("features",) else 1 if loc[:1] == ("predictions",) else None
    if at is not None and len(loc) > at and loc[at] in ("numeric", "categorical"):
        return loc[:at] + loc[at + 1 :]
    return loc
