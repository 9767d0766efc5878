"""The transformers mlci's default preprocessing adds for datetime, free-text and boolean features.

scikit-learn has none that turns a datetime into numbers, hashes a text column that has
missing values, or maps True/False/missing to numbers, so these three are written here. Their
state is plain lists and ints, and `mlci.modeling.bundle.load_model` trusts exactly these class
names (mlci's own code, installed in the loading job; never names taken from the artifact).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from mlci.data.features import DATE_PARTS, TEXT_HASH_FEATURES


class _ByColumn(TransformerMixin, BaseEstimator):
    """Remember the input columns at fit; name the outputs after them."""

    def fit(self, X: Any, y: Any = None) -> Any:
        self.columns_ = [str(c) for c in X.columns]
        return self

    def _names(self) -> list[str]:
        return list(self.columns_)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        return np.asarray(self._names(), dtype=object)


class DatetimeParts(_ByColumn):
    """Turn datetime columns (datetime64 or ISO 8601 strings) into year, month, day, weekday, hour and days.

    `days` counts from 1970-01-01, so every model sees order; a missing or unparsable value is
    NaN for the imputer that follows.
    """

    def transform(self, X: Any) -> Any:
        out = []
        for c in self.columns_:
            col = X[c]
            if pd.api.types.is_datetime64_any_dtype(col):
                t = pd.to_datetime(col, utc=True)
            else:
                t = pd.to_datetime(col, errors="coerce", format="ISO8601", utc=True)
            t = t.dt.tz_localize(None)
            days = (t - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
            for part in (t.dt.year, t.dt.month, t.dt.day, t.dt.weekday, t.dt.hour, days):
                out.append(part.to_numpy(dtype="float64", na_value=np.nan))
        return np.column_stack(out) if out else np.empty((len(X), 0))

    def _names(self) -> list[str]:
        return [f"{c}__{p}" for c in self.columns_ for p in DATE_PARTS]


class TextHasher(_ByColumn):
    """Hash each free-text column into `n_features` word counts (scikit-learn's HashingVectorizer); missing is empty."""

    def __init__(self, n_features: int = TEXT_HASH_FEATURES) -> None:
        self.n_features = n_features

    def transform(self, X: Any) -> Any:
        from sklearn.feature_extraction.text import HashingVectorizer

        # Stateless, so built here rather than stored: the model file holds only this class.
        hasher = HashingVectorizer(n_features=self.n_features, alternate_sign=False, norm="l2")
        blocks = [hasher.transform(X[c].fillna("").astype(str)).toarray() for c in self.columns_]
        return np.hstack(blocks) if blocks else np.empty((len(X), 0))

    def _names(self) -> list[str]:
        return [f"{c}__hash{i}" for c in self.columns_ for i in range(self.n_features)]


class BooleanToFloat(_ByColumn):
    """Turn boolean columns (bool, or object holding True/False and missing values) into 1.0/0.0/NaN."""

    def transform(self, X: Any) -> Any:
        cols = [X[c].map({True: 1.0, False: 0.0}).to_numpy(dtype="float64", na_value=np.nan) for c in self.columns_]
        return np.column_stack(cols) if cols else np.empty((len(X), 0))


class EncodedLabels(ClassifierMixin, BaseEstimator):
    """A classifier fitted on label indices 0..n-1 (XGBoost takes no other) that answers in the original labels.

    mlci fits `estimator` on the indices of the sorted training labels and keeps the labels in
    `classes` (plain strings or numbers, so skops stores them as JSON): `predict` and `classes_`
    speak the labels the data has, `predict_proba` keeps the estimator's column order.
    """

    def __init__(self, estimator: Any = None, classes: list[Any] | None = None) -> None:
        self.estimator = estimator
        self.classes = classes

    @property
    def classes_(self) -> Any:
        return np.asarray(self.classes)

    def fit(self, X: Any, y: Any) -> Any:
        labels = np.unique(np.asarray(y))
        self.classes = labels.tolist()
        self.estimator.fit(X, np.searchsorted(labels, np.asarray(y)))
        return self

    def predict_proba(self, X: Any) -> Any:
        return self.estimator.predict_proba(X)

    def predict(self, X: Any) -> Any:
        return self.classes_[np.asarray(self.estimator.predict(X)).astype("int64")]
