"""What a model relies on: permutation importance of candidate and baseline on the same test rows, and what changed.

scikit-learn's `permutation_importance` permutes each feature `repeats` times and scores the
model on every permuted copy. It calls its scorer once per feature and repeat; through mlci's
scorer (the contained process every model mlci did not train here is scored in, whatever its
format) each call would load the model again. So the run is in two passes over the same
seeded permutations: the first only collects the permuted frames, which are then scored in ONE
call of `score` (all of them stacked), and the second replays those predictions, found by the
frame's content, to scikit-learn, which computes the importances as it always does. A frame the
first pass did not see is an error, never a silent zero.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlci.contracts.importance import FeatureImportance, Importance, ImportanceChange
from mlci.stats.evaluation import Predictions, compute_metric
from mlci.stats.metrics import get_metric

if TYPE_CHECKING:
    import pandas as pd

    from mlci.stats.specs import ImportanceSection

Score = Callable[["pd.DataFrame"], Predictions]


def _key(frame: pd.DataFrame) -> bytes:
    import pandas as pd

    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).digest()


class _Scored:
    """The model as scikit-learn's permutation_importance sees it: collect frames, then replay their predictions."""

    def __init__(self) -> None:
        self.frames: dict[bytes, pd.DataFrame] = {}
        self.predictions: dict[bytes, Predictions] | None = None

    def fit(self, *args: Any) -> _Scored:  # permutation_importance asks for an estimator with `fit`
        return self

    def score_all(self, score: Score) -> None:
        """Score every collected frame in one call of `score`, keeping each frame's predictions."""
        import numpy as np
        import pandas as pd

        keys = list(self.frames)
        stacked = pd.concat([self.frames[k] for k in keys], ignore_index=True)
        scored = score(stacked)
        n = len(next(iter(self.frames.values())))
        labels = np.asarray(scored.labels)
        proba = None if scored.proba is None else np.asarray(scored.proba)
        if len(labels) != n * len(keys):
            from mlci.errors import ScoringFailed

            raise ScoringFailed(f"the model returned {len(labels)} predictions for {n * len(keys)} permuted rows")
        self.predictions = {
            k: Predictions(
                labels[i * n : (i + 1) * n],
                None if proba is None else proba[i * n : (i + 1) * n],
                scored.classes,
            )
            for i, k in enumerate(keys)
        }


def _scorer(metric: str, sign: float) -> Callable[[_Scored, pd.DataFrame, Any], float]:
    def scorer(model: _Scored, frame: pd.DataFrame, y: Any) -> float:
        key = _key(frame)
        if model.predictions is None:
            model.frames.setdefault(key, frame.copy())
            return 0.0
        found = model.predictions.get(key)
        if found is None:  # the replay must see exactly the frames the first pass collected
            raise RuntimeError("permutation importance: a permuted frame was not scored in the first pass")
        return sign * compute_metric(metric, y, found)

    return scorer


def permutation(
    frame: pd.DataFrame, y: Any, score: Score, *, metric: str, repeats: int, seed: int, confidence: float
) -> list[FeatureImportance]:
    """Return each column's permutation importance (the metric's loss when it is shuffled), largest first.

    `score` scores a frame with this model's features (mlci's scorer); it is called once.
    """
    import numpy as np
    from scipy import stats
    from sklearn.inspection import permutation_importance

    if frame.shape[1] == 0:
        return []
    sign = 1.0 if get_metric(metric).greater_is_better else -1.0
    model = _Scored()
    scorer = _scorer(metric, sign)
    permutation_importance(model, frame, y, scoring=scorer, n_repeats=repeats, random_state=seed)
    model.score_all(score)
    found = permutation_importance(model, frame, y, scoring=scorer, n_repeats=repeats, random_state=seed)
    raw = np.asarray(found.importances, dtype=float)  # (features, repeats)
    mean = raw.mean(axis=1)
    half = stats.t.ppf((1 + confidence) / 2, repeats - 1) * raw.std(axis=1, ddof=1) / math.sqrt(repeats)
    out = [
        FeatureImportance(str(name), float(m), float(m - h), float(m + h))
        for name, m, h in zip(frame.columns, mean, half, strict=True)
    ]
    return sorted(out, key=lambda f: -f.mean)


def sample_rows(n: int, rows: int, seed: int) -> Any:
    """Return the positions of at most `rows` of `n` test rows, drawn with `seed` (the same rows for both models)."""
    import numpy as np

    if n <= rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=rows, replace=False))


def importance(
    test: pd.DataFrame,
    y: Any,
    candidate: tuple[list[str], Score],
    baseline: tuple[list[str], Score] | None,
    *,
    metric: str,
    settings: ImportanceSection,
    seed: int,
    confidence: float,
) -> Importance:
    """Return the permutation importance of candidate and baseline (each: its features, its scorer) on the same rows."""
    import numpy as np

    picked = sample_rows(len(test), settings.rows, seed)
    rows = test.iloc[picked].reset_index(drop=True)
    truth = np.asarray(y)[picked]

    def of(model: tuple[list[str], Score]) -> list[FeatureImportance]:
        features, score = model
        return permutation(
            rows[features],
            truth,
            score,
            metric=metric,
            repeats=settings.repeats,
            seed=seed,
            confidence=confidence,
        )

    cand = of(candidate)
    base = of(baseline) if baseline is not None else None
    return Importance(
        metric=metric,
        rows=len(rows),
        repeats=settings.repeats,
        confidence=confidence,
        top=settings.top,
        candidate=cand,
        baseline=base,
        changes=changes(cand, base) if base is not None else [],
    )


def changes(candidate: list[FeatureImportance], baseline: list[FeatureImportance]) -> list[ImportanceChange]:
    """Return every feature's importance in both models, the largest change first (a missing feature counts as 0)."""
    cand = {f.feature: f.mean for f in candidate}
    base = {f.feature: f.mean for f in baseline}
    names = list(dict.fromkeys([*base, *cand]))
    out = [
        ImportanceChange(name, base.get(name), cand.get(name), cand.get(name, 0.0) - base.get(name, 0.0))
        for name in names
    ]
    return sorted(out, key=lambda c: -abs(c.delta))
