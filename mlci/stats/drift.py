"""Per-feature drift of fresh data against a reference profile of the training data.

`build_profile` summarises the training table (and the model's test-set predictions) into a
`Profile` (mlci.contracts.drift) that every bundle stores as profile.json. `compare_profile` bins a fresh
table the same way and scores each feature with the population stability index (PSI), which
decides the status, plus a two-sample test (Kolmogorov–Smirnov on numeric features,
chi-square on categorical ones) reported alongside.

Binning (numeric): the inner edges are the training quantiles (deciles by default),
deduplicated; bins are right-closed, `(-inf, e1], (e1, e2], ..., (ek, +inf)`, so the
cumulative count at an edge is the empirical CDF there. The outer edges are stored as
`null` to keep the profile strict JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic.dataclasses import dataclass

from mlci.contracts.drift import (
    CategoricalEntry,
    DriftReport,
    FeatureDrift,
    Kind,
    NumericEntry,
    Profile,
    ProfileEntry,
    Status,
)
from mlci.errors import DataError, ModelError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mlci.stats.specs import DriftSection

#: Share that replaces an empty bin's share in the PSI, so that ln(cur/ref) stays finite.
#: Shares are `count / non-null total` and are not renormalised after the replacement.
EPSILON = 1e-4

#: The name under which prediction drift is reported (and looked up in drift.features / ignore).
PREDICTION = "prediction"

#: Bucket of training categories outside the top_k.
OTHER = "__other__"
#: Bucket of current categories never seen in training (reported in `FeatureDrift.unseen`).
UNSEEN = "__unseen__"

# Beyond the top_k, this many more training category names are kept (without counts) so that a
# fresh category can be told apart from a rare known one. Past that the profile would stop
# being compact, and categories outside the named ones count as __other__, not as unseen.
MAX_NAMED = 1000
# How many unseen categories a FeatureDrift lists.
_MAX_UNSEEN_LISTED = 10

_RANK: dict[str, int] = {"ok": 0, "warn": 1, "fail": 2}


# --- building the profile -----------------------------------------------------------------


def build_profile(
    df: pd.DataFrame,
    *,
    features: list[str],
    categorical: list[str] | None = None,
    predictions: np.ndarray | None = None,
    bins: int = 10,
    top_k: int = 20,
) -> Profile:
    """Return the profile of the training table `df` (and of the test predictions).

    A numeric feature's entry holds its counts per quantile bin (`edges` are `[null, e1, ...,
    ek, null]`) and its moments; a categorical one the counts of its top_k categories, the
    rest as `other` (mlci.contracts.drift). Counts rather than frequencies are kept because
    the chi-square test needs the reference sample size.

    A feature is categorical when its dtype is object, string, category or bool, or when it is
    listed in `categorical`. Predictions: float scores are numeric; bool, string and integer
    labels are categorical (integers with more than `top_k` distinct values are numeric);
    an (n, 2) probability array is reduced to its positive-class column.
    """
    if bins < 1:
        raise DataError(f"drift profile: bins must be at least 1, got {bins}")
    if len(df) == 0:
        raise DataError("the reference table has no rows", hint="a drift profile needs training data")
    missing = [name for name in features if name not in df.columns]
    if missing:
        raise DataError(
            f"the reference table has no column {', '.join(repr(m) for m in missing)}",
            hint=f"columns are: {', '.join(map(str, df.columns))}",
        )
    forced = set(categorical or [])
    entries: dict[str, NumericEntry | CategoricalEntry] = {}
    for name in dict.fromkeys(features):
        column = df[name]
        if name in forced or _is_categorical(column):
            entries[name] = _categorical_entry(column, top_k)
        else:
            entries[name] = _numeric_entry(_as_float(column, name, "reference"), bins)
    return Profile(
        rows=len(df),
        features=entries,
        predictions=None if predictions is None else prediction_entry(predictions, bins, top_k),
    )


def _is_categorical(column: pd.Series) -> bool:
    import pandas as pd

    dtype = column.dtype
    return bool(
        pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or not pd.api.types.is_numeric_dtype(dtype)  # datetimes and the like: compared as labels
    )


def _as_float(column: pd.Series, name: str, which: str) -> np.ndarray:
    """Return the column as float64 with NaN for nulls."""
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_numeric_dtype(column.dtype) or pd.api.types.is_bool_dtype(column.dtype):
        try:
            column = pd.to_numeric(column, errors="raise")
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"column '{name}' of the {which} table is not numeric ({exc})",
                hint="the profile holds it as numeric; fix the values or list it under drift.ignore",
            ) from None
    return np.asarray(column.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")


def _bin_counts(values: np.ndarray, inner_edges: np.ndarray) -> tuple[np.ndarray, int]:
    """Return (counts per right-closed bin over the non-null values, number of nulls)."""
    import numpy as np

    # One pass: NaN sorts past every edge into the last bin, so it is taken out of that bin
    # afterwards instead of copying the non-null values first.
    counts = np.bincount(np.searchsorted(inner_edges, values, side="left"), minlength=len(inner_edges) + 1)
    nulls = int(np.count_nonzero(np.isnan(values)))
    counts[-1] -= nulls
    return counts.astype("int64"), nulls


def _numeric_entry(values: np.ndarray, bins: int) -> NumericEntry:
    import numpy as np

    finite = values[np.isfinite(values)]
    if finite.size:
        quantiles = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        inner = np.unique(np.quantile(finite, quantiles)) if quantiles.size else np.array([])
        if inner.size == 0:
            # bins=1, or nothing to split: one edge at the median still separates "above" from
            # "below" the training data, so a shift of a constant column is seen.
            inner = np.array([float(np.median(finite))])
    else:
        inner = np.array([], dtype="float64")
    counts, nulls = _bin_counts(values, inner)
    stats = (finite.mean(), finite.std(), finite.min(), finite.max()) if finite.size else None
    return numeric_entry(inner.tolist(), counts.tolist(), nulls=nulls, rows=len(values), stats=stats)


def numeric_entry(
    inner: list[float], counts: list[int], *, nulls: int, rows: int, stats: tuple[Any, Any, Any, Any] | None
) -> NumericEntry:
    """Return a numeric profile entry from its inner edges, bin counts, nulls and (mean, std, min, max)."""
    mean, std, low, high = stats if stats is not None else (None, None, None, None)
    return NumericEntry(
        edges=[None, *(float(e) for e in inner), None],
        counts=[int(c) for c in counts],
        n=int(sum(int(c) for c in counts)),
        mean=None if mean is None else _json_float(mean),
        std=None if std is None else _json_float(std),
        min=None if low is None else _json_float(low),
        max=None if high is None else _json_float(high),
        null_rate=nulls / rows if rows else 0.0,
    )


def quantile_edges(quantiles: list[Any]) -> list[float]:
    """Return the inner bin edges from the values at `edge_quantiles(bins)`: sorted, without repeats."""
    return sorted({float(q) for q in quantiles if q is not None and math.isfinite(float(q))})


def edge_quantiles(bins: int) -> list[float]:
    """Return the quantile levels whose values are the inner edges (the median alone for one bin)."""
    import numpy as np

    levels = [float(q) for q in np.linspace(0.0, 1.0, bins + 1)[1:-1]]
    return levels or [0.5]


def _category_counts(column: pd.Series) -> tuple[dict[str, int], int]:
    """Return (count per category as a string, sorted by count desc then name; null count)."""
    counts: dict[str, int] = {}
    vc = column.value_counts(dropna=True)
    for key, count in zip(vc.index.tolist(), vc.to_numpy().tolist(), strict=True):
        if count:
            # Labels are compared as strings so that the profile survives JSON.
            label = str(key)
            counts[label] = counts.get(label, 0) + int(count)
    nulls = int(column.isna().sum())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))), nulls


def _categorical_entry(column: pd.Series, top_k: int) -> CategoricalEntry:
    counts, nulls = _category_counts(column)
    return categorical_entry(counts, nulls=nulls, rows=len(column), top_k=top_k)


def categorical_entry(
    counts: dict[str, int], *, nulls: int, rows: int, top_k: int, rest: int = 0, complete: bool = True
) -> CategoricalEntry:
    """Return a profile entry of category counts (sorted by count desc, then name) and their null count.

    `rest` counts non-null rows in categories beyond `counts` (an engine returns the most frequent
    ones only); `complete=False` says such categories exist, so unknown ones are not called unseen.
    """
    items = list(counts.items())
    top, tail = items[:top_k], items[top_k:]
    return CategoricalEntry(
        counts=dict(top),
        other=sum(c for _, c in tail) + rest,
        other_names=[k for k, _ in tail[:MAX_NAMED]],
        complete=complete and len(tail) <= MAX_NAMED,
        n=sum(counts.values()) + rest,
        null_rate=nulls / rows if rows else 0.0,
    )


def _prediction_series(predictions: Any) -> pd.Series:
    import numpy as np
    import pandas as pd

    arr = np.asarray(predictions)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2 and arr.shape[1] == 2:
        arr = arr[:, 1]  # binary predict_proba: the positive class's score
    elif arr.ndim != 1:
        raise DataError(
            f"predictions have shape {arr.shape}; drift needs one value per row",
            hint="pass labels, scores, or the positive-class column of predict_proba",
        )
    return pd.Series(arr, name=PREDICTION)


def prediction_entry(predictions: Any, bins: int = 10, top_k: int = 20) -> NumericEntry | CategoricalEntry:
    """Return the profile entry of test-set predictions (numeric scores or categorical labels)."""
    import pandas as pd

    series = _prediction_series(predictions)
    dtype = series.dtype
    if _is_categorical(series) or (pd.api.types.is_integer_dtype(dtype) and series.nunique() <= top_k):
        return _categorical_entry(series, top_k)
    return _numeric_entry(_as_float(series, PREDICTION, "prediction"), bins)


def _json_float(x: Any) -> float | None:
    value = float(x)
    return value if math.isfinite(value) else None


# --- comparing fresh data ------------------------------------------------------------------


def compare_profile(
    profile: Profile,
    current: pd.DataFrame,
    settings: DriftSection,
    *,
    predictions: np.ndarray | None = None,
) -> DriftReport:
    """Return the drift of `current` against `profile`, one FeatureDrift per feature, worst first.

    PSI = Σ (cur% − ref%) · ln(cur% / ref%) over the reference bins, shares taken over non-null
    values, with every empty share replaced by EPSILON (1e-4). Numeric bins are the stored
    edges; categorical bins are the stored top categories, __other__ and __unseen__. A feature
    fails when PSI ≥ psi_fail, warns when PSI ≥ psi_warn (per-feature overrides in
    `settings.features`; `settings.ignore` skips features). The test reported beside PSI:
    numeric, Kolmogorov–Smirnov with D = max |CDF_ref − CDF_cur| over the stored edges and the
    p-value of the Kolmogorov distribution for effective n = n·m/(n+m); categorical,
    chi-square on the 2 × k table of reference and current counts.

    Prediction drift is reported as feature "prediction" when both the profile and
    `predictions` have it.
    """
    if len(current) == 0:
        raise DataError("the current table has no rows", hint="drift needs fresh data to compare")
    entries = profile_columns(profile, settings)
    pred_entry = profile.predictions
    names = list(entries)
    missing = [name for name in names if name not in current.columns]
    if missing:
        raise DataError(
            f"the current table has no column {', '.join(repr(m) for m in missing)}, which the reference profile holds",
            hint="add it, or list it under drift.ignore in mlci.yaml",
        )

    observed = {name: _observe(name, entries[name], current[name]) for name in names}
    if pred_entry is not None and predictions is not None and PREDICTION not in settings.ignore:
        series = _prediction_series(predictions)
        observed[PREDICTION] = _observe(PREDICTION, pred_entry, series)
    return compare_observed(profile, observed, len(current), settings)


@dataclass
class Observed:
    """What a current table holds in one profiled column, counted over the profile's bins or categories."""

    rows: int
    nulls: int
    #: numeric: count per bin of the profile's edges
    bins: list[int] | None = None
    #: categorical: count per category label, most frequent first
    categories: dict[str, int] | None = None
    #: categorical: non-null rows in categories beyond `categories` (an engine lists the most frequent only)
    rest: int = 0


def profile_columns(profile: Profile, settings: DriftSection) -> dict[str, ProfileEntry]:
    """Return the profile's feature entries that drift checks (drift.ignore left out)."""
    ignored = set(settings.ignore)
    return {name: entry for name, entry in profile.features.items() if name not in ignored}


def compare_observed(
    profile: Profile, observed: dict[str, Observed], rows_cur: int, settings: DriftSection
) -> DriftReport:
    """Return the drift report of counts observed on a current table (in pandas or in an engine), worst first."""
    entries: dict[str, ProfileEntry] = dict(profile.features)
    if profile.predictions is not None:
        entries[PREDICTION] = profile.predictions
    results = [
        _compare_entry(name, entries[name], seen, settings, kind="prediction" if name == PREDICTION else None)
        for name, seen in observed.items()
    ]
    results.sort(key=lambda f: (-_RANK[f.status], -f.psi, f.feature))
    worst: Status = max((f.status for f in results), key=lambda s: _RANK[s], default="ok")
    return DriftReport(rows_ref=profile.rows, rows_cur=rows_cur, features=results, status=worst)


def observe_predictions(entry: ProfileEntry, predictions: Any) -> Observed:
    """Return what `predictions` hold over the bins or categories of the profile's prediction entry."""
    return _observe(PREDICTION, entry, _prediction_series(predictions))


def _observe(name: str, entry: ProfileEntry, column: pd.Series) -> Observed:
    import numpy as np

    if isinstance(entry, NumericEntry):
        inner = np.asarray(entry.inner_edges, dtype="float64")
        counts, nulls = _bin_counts(_as_float(column, name, "current"), inner)
        return Observed(rows=len(column), nulls=nulls, bins=counts.tolist())
    counts_by_label, nulls = _category_counts(column)
    return Observed(rows=len(column), nulls=nulls, categories=counts_by_label)


def _thresholds(name: str, settings: DriftSection) -> tuple[float, float]:
    override = settings.features.get(name)
    warn = settings.psi_warn if override is None or override.psi_warn is None else override.psi_warn
    fail = settings.psi_fail if override is None or override.psi_fail is None else override.psi_fail
    return float(warn), float(fail)


def _compare_entry(
    name: str, entry: ProfileEntry, seen: Observed, settings: DriftSection, *, kind: Kind | None
) -> FeatureDrift:
    import numpy as np

    unseen: list[str] = []
    if isinstance(entry, NumericEntry):
        if seen.bins is None or len(seen.bins) != len(entry.counts):
            raise ModelError(f"the drift profile entry for '{name}' does not match the current column's kind")
        ref = np.asarray(entry.counts, dtype="int64")
        cur = np.asarray(seen.bins, dtype="int64")
        statistic, p_value = ks_from_counts(ref, cur)
        test: Literal["ks", "chi2"] = "ks"
    else:
        labels = list(entry.counts)
        ref = np.asarray([*entry.counts.values(), entry.other, 0], dtype="int64")
        other_names = set(entry.other_names)
        index = {label: i for i, label in enumerate(labels)}
        cur = np.zeros(len(labels) + 2, dtype="int64")
        cur[len(labels)] += seen.rest
        for label, count in (seen.categories or {}).items():
            i = index.get(label)
            if i is None:
                if label in other_names or not entry.complete:
                    i = len(labels)
                else:
                    i = len(labels) + 1
                    if len(unseen) < _MAX_UNSEEN_LISTED:
                        unseen.append(label)  # counts are sorted, so these are the most frequent
            cur[i] += count
        statistic, p_value = chi2_from_counts(ref, cur)
        test = "chi2"

    psi = psi_from_counts(ref, cur)
    warn, fail = _thresholds(name, settings)
    status: Status = "fail" if psi >= fail else "warn" if psi >= warn else "ok"
    return FeatureDrift(
        feature=name,
        kind=kind or entry.kind,
        psi=psi,
        test=test,
        statistic=statistic,
        p_value=p_value,
        null_rate_ref=entry.null_rate,
        null_rate_cur=seen.nulls / seen.rows if seen.rows else 0.0,
        unseen=unseen,
        status=status,
        psi_warn=warn,
        psi_fail=fail,
    )


# --- the statistics ------------------------------------------------------------------------


def _shares(counts: np.ndarray) -> np.ndarray:
    import numpy as np

    total = counts.sum()
    shares = counts / total if total else np.zeros(len(counts))
    return np.where(shares == 0, EPSILON, shares)


def psi_from_counts(ref: Iterable[int] | np.ndarray, cur: Iterable[int] | np.ndarray) -> float:
    """Return the population stability index of two count vectors over the same bins.

    Σ (q − p) · ln(q / p) with p, q the shares of each bin and EPSILON for an empty share.
    """
    import numpy as np

    p = _shares(np.asarray(ref, dtype="float64"))
    q = _shares(np.asarray(cur, dtype="float64"))
    return float(np.sum((q - p) * np.log(q / p)))


def ks_from_counts(ref: Iterable[int] | np.ndarray, cur: Iterable[int] | np.ndarray) -> tuple[float, float]:
    """Return (D, p-value) of the two-sample Kolmogorov–Smirnov test on binned counts.

    D is the largest CDF gap at the bin edges, a lower bound of the unbinned D. The p-value is
    the asymptotic one scipy's `ks_2samp(method="asymp")` uses: `kstwo.sf(D, round(n·m/(n+m)))`.
    NaN when either side is empty.
    """
    import numpy as np
    from scipy import stats

    r = np.asarray(ref, dtype="float64")
    c = np.asarray(cur, dtype="float64")
    n, m = r.sum(), c.sum()
    if n == 0 or m == 0:
        return math.nan, math.nan
    gaps = np.abs(np.cumsum(r)[:-1] / n - np.cumsum(c)[:-1] / m)
    d = float(gaps.max()) if gaps.size else 0.0
    effective_n = max(1, round(n * m / (n + m)))
    p = float(np.clip(stats.kstwo.sf(d, effective_n), 0.0, 1.0))
    return d, p


def chi2_from_counts(ref: Iterable[int] | np.ndarray, cur: Iterable[int] | np.ndarray) -> tuple[float, float]:
    """Return (statistic, p-value) of the chi-square test of homogeneity on two count vectors.

    The reference is itself a sample, so the 2 × k contingency test (both rows random) is the
    right one rather than a goodness-of-fit test that would treat the reference shares as
    exact. No continuity correction; bins empty on both sides are dropped. NaN when either
    side is empty.
    """
    import numpy as np
    from scipy import stats

    table = np.vstack([np.asarray(ref, dtype="float64"), np.asarray(cur, dtype="float64")])
    if table[0].sum() == 0 or table[1].sum() == 0:
        return math.nan, math.nan
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)
