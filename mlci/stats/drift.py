"""Per-feature drift of fresh data against a reference profile of the training data.

`build_profile` summarises the training table (and the model's test-set predictions) into a
`Profile` (mlci.contracts.drift) that every bundle stores as profile.json. `compare_profile` bins a fresh
table the same way and tests each feature: Kolmogorov–Smirnov on numbers, datetimes (as seconds)
and text lengths, chi-square plus the unseen-category share on categories, the out-of-vocabulary
rate on text. The verdict rests on those tests, Holm-corrected across features (a stated
false-alarm rate at every n), and on an effect size (so a huge n does not fail a negligible
shift); the population stability index (PSI) is reported beside, never decisive alone.

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
    text: list[str] | None = None,
    dates: list[str] | None = None,
    skipped: dict[str, str] | None = None,
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
    import pandas as pd

    forced, texts, dated = set(categorical or []), set(text or []), set(dates or [])
    entries: dict[str, NumericEntry | CategoricalEntry] = {}
    for name in dict.fromkeys(features):
        column = df[name]
        if name in texts:
            entries[name] = _text_entry(column, bins)
        elif name in dated or pd.api.types.is_datetime64_any_dtype(column.dtype):
            entry = _numeric_entry(_seconds(column), bins)
            entries[name] = entry.model_copy(update={"source": "datetime"})
        elif name in forced or _is_categorical(column):
            entries[name] = _categorical_entry(column, top_k)
        else:
            entries[name] = _numeric_entry(_as_float(column, name, "reference"), bins)
    return Profile(
        rows=len(df),
        features=entries,
        predictions=None if predictions is None else prediction_entry(predictions, bins, top_k),
        skipped=dict(skipped or {}),
    )


#: Words of a text column's vocabulary kept in the profile (the most frequent).
VOCABULARY = 5000


def _seconds(column: pd.Series) -> np.ndarray:
    """Return a datetime column (or ISO 8601 strings) as seconds since the epoch, NaN for nulls."""
    import numpy as np
    import pandas as pd

    stamps = pd.to_datetime(column, errors="coerce", utc=True, format="ISO8601" if column.dtype == object else None)
    seconds = stamps.astype("int64").to_numpy(dtype="float64") / 1e9
    return np.where(stamps.isna().to_numpy(), np.nan, seconds)


def _words(column: pd.Series) -> pd.Series:
    """Return each row's lower-cased words (None for nulls)."""
    return column.astype("string").str.lower().str.findall(r"\w+")


def _text_entry(column: pd.Series, bins: int) -> NumericEntry:
    """Return a text column's entry: the distribution of its length in words, and its vocabulary."""
    import numpy as np

    words = _words(column)
    lengths = words.str.len().to_numpy(dtype="float64", na_value=np.nan)
    counts = words.dropna().explode().dropna().value_counts()
    vocabulary = counts.index[:VOCABULARY].astype(str).tolist()
    total = int(counts.sum())
    oov = (total - int(counts.iloc[:VOCABULARY].sum())) / total if total else 0.0
    entry = _numeric_entry(lengths, bins)
    return entry.model_copy(update={"source": "text", "vocabulary": vocabulary, "oov_rate": oov, "words": total})


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
    entry = categorical_entry(counts, nulls=nulls, rows=len(column), top_k=top_k)
    once = sum(1 for c in counts.values() if c == 1)
    return entry.model_copy(update={"singletons": once, "doubletons": sum(1 for c in counts.values() if c == 2)})


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
        other_counts=[c for _, c in tail[:MAX_NAMED]] if complete else None,
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

    Each feature gets a two-sample test and an effect size (`_compare_entry`); the verdict
    (`compare_observed`) corrects the tests across features with Holm's method at
    `settings.alpha` and fails a significant feature whose effect is at least
    `settings.min_effect`. PSI = Σ (cur% − ref%) · ln(cur% / ref%) over the reference bins,
    with EPSILON (1e-4) for an empty share, is reported beside (and decides only where
    psi_warn/psi_fail are set, and then only with a significant test).

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
    #: datetime: share of non-null rows before the reference's first or after its last value
    outside: float | None = None
    #: text: (words outside the reference vocabulary, words in all)
    oov: tuple[int, int] | None = None


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
        _compare_entry(name, entries[name], seen, kind="prediction" if name == PREDICTION else None)
        for name, seen in observed.items()
    ]
    results = judge(results, settings)
    results.sort(key=lambda f: (-_RANK[f.status], -_finite(f.effect), -f.psi, f.feature))
    worst: Status = max((f.status for f in results), key=lambda s: _RANK[s], default="ok")
    skipped = dict(profile.skipped)
    skipped.update({name: "listed under drift.ignore" for name in settings.ignore if name in entries})
    return DriftReport(
        rows_ref=profile.rows,
        rows_cur=rows_cur,
        features=results,
        status=worst,
        skipped=skipped,
        alpha=settings.alpha,
        min_effect=settings.min_effect,
    )


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -1.0


def judge(results: list[FeatureDrift], settings: DriftSection) -> list[FeatureDrift]:
    """Return the features with their verdicts: Holm across features at `alpha`, then the effect floor."""
    import dataclasses

    p = [f.p_value if math.isfinite(f.p_value) else 1.0 for f in results]
    adjusted = holm(p)
    out = []
    for f, q in zip(results, adjusted, strict=True):
        override = settings.features.get(f.feature)
        floor = settings.min_effect if override is None or override.min_effect is None else override.min_effect
        warn_at = settings.psi_warn if override is None or override.psi_warn is None else override.psi_warn
        fail_at = settings.psi_fail if override is None or override.psi_fail is None else override.psi_fail
        status: Status = "ok"
        if q < settings.alpha:
            big = f.effect >= floor or (fail_at is not None and f.psi >= fail_at)
            status = "fail" if big else "warn"
        elif warn_at is not None and f.psi >= warn_at and q < 2 * settings.alpha:
            status = "warn"
        out.append(dataclasses.replace(f, status=status, p_adjusted=q, psi_warn=warn_at, psi_fail=fail_at))
    return out


def holm(p: list[float]) -> list[float]:
    """Return Holm's step-down adjusted p-values (family-wise error at any level)."""
    import numpy as np

    m = len(p)
    if not m:
        return []
    arr = np.asarray(p, dtype=float)
    order = np.argsort(arr, kind="stable")
    adj = np.minimum(np.maximum.accumulate(arr[order] * (m - np.arange(m))), 1.0)
    out = np.empty(m)
    out[order] = adj
    return [float(x) for x in out]


def observe_predictions(entry: ProfileEntry, predictions: Any) -> Observed:
    """Return what `predictions` hold over the bins or categories of the profile's prediction entry."""
    return _observe(PREDICTION, entry, _prediction_series(predictions))


def _observe(name: str, entry: ProfileEntry, column: pd.Series) -> Observed:
    import numpy as np

    if isinstance(entry, NumericEntry):
        inner = np.asarray(entry.inner_edges, dtype="float64")
        if entry.source == "text":
            words = _words(column)
            values = words.str.len().to_numpy(dtype="float64", na_value=np.nan)
            flat = words.dropna().explode().dropna()
            known = set(entry.vocabulary or [])
            oov = (int((~flat.isin(known)).sum()), len(flat))
            counts, nulls = _bin_counts(values, inner)
            return Observed(rows=len(column), nulls=nulls, bins=counts.tolist(), oov=oov)
        values = _seconds(column) if entry.source == "datetime" else _as_float(column, name, "current")
        counts, nulls = _bin_counts(values, inner)
        outside = None
        if entry.source == "datetime" and entry.min is not None and entry.max is not None:
            finite = values[np.isfinite(values)]
            outside = float(np.mean((finite < entry.min) | (finite > entry.max))) if finite.size else 0.0
        return Observed(rows=len(column), nulls=nulls, bins=counts.tolist(), outside=outside)
    counts_by_label, nulls = _category_counts(column)
    return Observed(rows=len(column), nulls=nulls, categories=counts_by_label)


def _compare_entry(name: str, entry: ProfileEntry, seen: Observed, *, kind: Kind | None) -> FeatureDrift:
    """Return one feature's test, effect size and PSI; its status is decided across features (`judge`)."""
    import numpy as np

    unseen: list[str] = []
    unseen_share: float | None = None
    detail: str | None = None
    if isinstance(entry, NumericEntry):
        if seen.bins is None or len(seen.bins) != len(entry.counts):
            raise ModelError(f"the drift profile entry for '{name}' does not match the current column's kind")
        ref = np.asarray(entry.counts, dtype="int64")
        cur = np.asarray(seen.bins, dtype="int64")
        statistic, p_value = ks_from_counts(ref, cur)
        effect = statistic
        test: Literal["ks", "chi2"] = "ks"
        if not math.isfinite(p_value) and ref.sum() > 0 and cur.sum() == 0 and seen.rows:
            # Every current value is null where the reference had values: the starkest drift.
            p_value, effect, detail = 0.0, 1.0, "no values in the current table"
        if entry.source == "datetime" and seen.outside is not None:
            detail = f"{seen.outside:.1%} of rows outside the reference range"
        if entry.source == "text" and seen.oov is not None and entry.oov_rate is not None:
            missing, words = seen.oov
            rate = missing / words if words else 0.0
            p_oov = _oov_p(missing, words, entry.oov_rate, entry.words or 0)
            p_value = min(1.0, 2 * min(p_value, p_oov)) if math.isfinite(p_value) else p_oov
            effect = max(_finite(effect), rate - entry.oov_rate)
            detail = f"{rate:.1%} of words outside the reference vocabulary (reference {entry.oov_rate:.1%})"
        psi = psi_from_counts(ref, cur)
    else:
        labels = list(entry.counts)
        ref = np.asarray([*entry.counts.values(), entry.other, 0], dtype="int64")
        counted = entry.other_counts
        if counted is not None and len(counted) == len(entry.other_names):
            labels += entry.other_names
            rest = entry.other - sum(counted)
            ref = np.asarray([*entry.counts.values(), *counted, rest, 0], dtype="int64")
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
        psi = psi_from_counts(ref, cur)
        # Unseen categories are judged by their share against what a reference of this size
        # leaves unseen with no drift at all (Good-Turing: its singletons' share), not counted
        # as drift by themselves; the chi-square pools them with the sparse known categories
        # (the reference, by construction, only holds categories it drew at least once: testing
        # those alone would favour the reference on every rare one).
        m = int(cur.sum())
        new = int(cur[-1])
        unseen_share = new / m if m else 0.0
        expected = (entry.singletons or 0) / entry.n if entry.n else 0.0
        merged_ref, merged_cur = _pool_sparse(ref, cur)
        statistic, p_chi = chi2_from_counts(merged_ref, merged_cur)
        p_new = _unseen_p(new, m, entry.singletons or 0, entry.doubletons or 0, entry.n)
        p_value = min(1.0, 2 * min(p_chi, p_new)) if math.isfinite(p_chi) else p_new
        effect = max(_tvd(merged_ref, merged_cur), unseen_share - expected)
        test = "chi2"

    return FeatureDrift(
        feature=name,
        kind=kind
        or (
            "datetime"
            if isinstance(entry, NumericEntry) and entry.source == "datetime"
            else "text"
            if isinstance(entry, NumericEntry) and entry.source == "text"
            else entry.kind
        ),
        psi=psi,
        test=test,
        statistic=statistic,
        p_value=p_value,
        null_rate_ref=entry.null_rate,
        null_rate_cur=seen.nulls / seen.rows if seen.rows else 0.0,
        unseen=unseen,
        effect=effect,
        unseen_share=unseen_share,
        detail=detail,
    )


def _pool_sparse(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the counts with every bin of fewer than 20 rows on both sides together pooled into one.

    The chi-square approximation needs expected counts of about 5 or more per cell, and with
    hundreds of cells near that its p-values still run small (7.5% below 0.05 with no drift, 300
    categories at 1,000 rows; 3% with bins of 20): a column of 300 categories in 200 rows has
    no cell that large, and is then judged by its pooled share and its unseen share. The last bin
    (unseen categories, none in the reference) always joins the pool.
    """
    import numpy as np

    sparse = (ref + cur) < 20
    sparse[-1] = True
    return np.r_[ref[~sparse], ref[sparse].sum()], np.r_[cur[~sparse], cur[sparse].sum()]


def _tvd(ref: np.ndarray, cur: np.ndarray) -> float:
    """Return the total variation distance of two count vectors: the share of rows that moved between bins."""
    import numpy as np

    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        return math.nan
    return float(0.5 * np.abs(ref / n - cur / m).sum())


def _unseen_p(new: int, m: int, singletons: int, doubletons: int, n_ref: int) -> float:
    """Return the one-sided p-value of `new` of `m` current rows in unseen categories, with no drift.

    With no drift, a current row falls in a category the reference never saw with the
    reference's missing mass, which Good-Turing estimates as singletons/n_ref. That estimate is
    itself noisy — its error has variance about (singletons + 2·doubletons)/n_ref² (Esty 1983)
    — so the normal test adds that to the binomial variance of the current share: treating the
    estimate as exact would alarm on every category-rich column. At least one reference row's
    share is assumed, so a lone new category in a huge table is not significant on its own.
    """
    from scipy import stats

    if m == 0 or new == 0 or n_ref == 0:
        return 1.0
    expected = max(singletons / n_ref, 1.0 / n_ref)
    var = expected * (1 - expected) / m + max(singletons + 2 * doubletons, 1) / n_ref**2
    return float(stats.norm.sf((new / m - expected) / math.sqrt(var)))


def _oov_p(missing: int, words: int, rate_ref: float, words_ref: int) -> float:
    """Return the one-sided p-value of an out-of-vocabulary rate above the reference's own (two proportions)."""
    from scipy import stats

    if words == 0 or words_ref == 0:
        return 1.0
    x = [missing, round(rate_ref * words_ref)]
    total = [words, words_ref]
    pooled = (x[0] + x[1]) / (total[0] + total[1])
    if pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / total[0] + 1 / total[1]))
    return float(stats.norm.sf((x[0] / total[0] - x[1] / total[1]) / se))


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
