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

Kind = Literal["numeric", "categorical", "prediction", "datetime", "text"]
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
    psi_warn: float | None = None  # PSI levels that (with a significant test) also warn/fail; None: unused
    psi_fail: float | None = None
    # The verdict's inputs: the test's p-value after the correction across features, and the
    # effect size (numeric, datetime, text: the largest CDF gap; categorical: the share of rows
    # that moved between categories, with unseen ones counted beyond their expected share).
    p_adjusted: float = 1.0
    effect: float = 0.0
    unseen_share: float | None = None  # categorical: share of current rows in categories never seen
    detail: str | None = None  # datetime: rows outside the reference range; text: out-of-vocabulary rate

    def describe(self, family: int) -> str:
        """Return one sentence: the feature, its test after the correction, its effect, PSI and status."""
        test = "Kolmogorov-Smirnov" if self.test == "ks" else "chi-square"
        p = "p<0.001" if self.p_adjusted < 0.001 else f"p={self.p_adjusted:.3g}"
        text = (
            f"{self.feature}: {test} {p} after Holm across {family} features, effect {self.effect:.3f}"
            f" (psi {self.psi:.3f}): {self.status}"
        )
        if self.unseen_share:
            text += f"; {self.unseen_share:.1%} of rows in unseen categories"
        return text + (f"; {self.detail}" if self.detail else "")

    @field_validator(
        "psi", "statistic", "p_value", "null_rate_ref", "null_rate_cur", "p_adjusted", "effect", mode="before"
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
    # Columns not checked, and why (identifier, empty, drift.ignore, ...): none is left out silently.
    skipped: dict[str, str] = field(default_factory=dict)
    alpha: float = 0.05  # the false-alarm rate the verdict holds across features
    min_effect: float = 0.03

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
    # What the numbers are: the values themselves, a datetime column's seconds since the epoch,
    # or a text column's length in words (with its vocabulary, for the out-of-vocabulary rate).
    source: Literal["values", "datetime", "text"] = "values"
    vocabulary: list[str] | None = None
    oov_rate: float | None = None  # the reference's own share of words outside `vocabulary`
    words: int | None = None  # the reference's words in all

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
    other_names: list[str] = []  # more known categories (not unseen when they come back)
    # Their counts, in the same order (None: an older profile). The test compares every counted
    # category: testing only the top_k, chosen because they were frequent in the reference,
    # would see them "shrink" in any fresh sample and cry wolf.
    other_counts: list[NonNegativeInt] | None = None
    complete: bool = True  # False: categories beyond `counts` and `other_names` existed (unknown ones are not unseen)
    # Categories seen once in the reference: the Good-Turing estimate of the share of fresh rows
    # in categories the reference never saw, when nothing drifted. None: an older profile.
    singletons: NonNegativeInt | None = None
    doubletons: NonNegativeInt | None = None  # categories seen twice: the estimate's variance needs them


ProfileEntry = Annotated[NumericEntry | CategoricalEntry, Field(discriminator="kind")]


class Profile(Record):
    """profile.json: what the training table held per feature (and the test predictions), for drift."""

    rows: NonNegativeInt
    features: dict[str, ProfileEntry]
    predictions: ProfileEntry | None = None
    skipped: dict[str, str] = {}  # columns left out of the profile, and why

    @classmethod
    def parse(cls, raw: bytes | str, where: str) -> Profile:
        """Return the profile in `raw` (the bytes of `where`); ModelError naming the bad field otherwise."""
        remedy = "this is not a drift profile mlci wrote — retrain the version"
        return parse_record(cls, raw, where, remedy=remedy, path=_without_kind)

    def dump(self) -> bytes:
        """Return profile.json's bytes: every field, keys sorted, compact (as mlci has always written it).

        Fields added since (NEWER) are left out while they hold their default, so a profile an
        earlier mlci wrote is written back byte for byte.
        """
        data = self.model_dump(mode="json")
        entries = [*data["features"].values(), *([data["predictions"]] if data.get("predictions") else [])]
        for d in [data, *entries]:
            for key, default in NEWER.items():
                if key in d and d[key] == default:
                    del d[key]
        return json.dumps(data, sort_keys=True).encode()


#: Fields profile.json gained after its first release, with the default an older file implies.
NEWER: dict[str, Any] = {
    "skipped": {},
    "source": "values",
    "vocabulary": None,
    "oov_rate": None,
    "words": None,
    "singletons": None,
    "doubletons": None,
    "other_counts": None,
}


def _without_kind(loc: Loc) -> Loc:
    """Return an error's location without the entry's kind that pydantic puts in it (`features.age.edges`)."""
    at = 2 if loc[:1] == ("features",) else 1 if loc[:1] == ("predictions",) else None
    if at is not None and len(loc) > at and loc[at] in ("numeric", "categorical"):
        return loc[:at] + loc[at + 1 :]
    return loc
