"""The preprocessor that turns a snapshot table into model inputs.

Training fits it inside the model's scikit-learn Pipeline and serving applies that same
fitted object, so the two can never drift apart:

- numeric features: a ``<name>_na`` indicator for every feature that had missing values
  in training, median imputation (0 for a feature that was always missing), then a
  signed ``log1p`` of the count-like ones;
- categorical features: missing values become ``"unknown"``, categories seen in under
  5 % of training rows become ``"Rare"`` (so do categories never seen in training), then
  one-hot columns ``<name>_<category>``;
- boolean features: 0 or 1 (missing is 0).

Columns the lists do not name (``account_id``, ``as_of``, ...) are dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from feature_engine.encoding import OneHotEncoder, RareLabelEncoder
from feature_engine.imputation import (
    AddMissingIndicator,
    ArbitraryNumberImputer,
    CategoricalImputer,
    MeanMedianImputer,
)
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted, validate_data

BOUNDED_FEATURES = frozenset(
    {"stickiness", "onboarding_answer_rate", "personal_email_share", "seniority_rank"}
)
"""Numeric features on a small fixed scale: left as they are, not log-transformed."""

RARE_SHARE = 0.05


class SignedLog1p(TransformerMixin, BaseEstimator):
    """``sign(x) * log1p(|x|)``: tames heavy-tailed counts and signed growth rates alike.

    Stateless; keeps DataFrame column names when given a DataFrame.
    """

    def fit(self, X, y=None):
        validate_data(self, X, ensure_all_finite="allow-nan", reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        index = X.index if isinstance(X, pd.DataFrame) else None
        values = validate_data(
            self, X, ensure_all_finite="allow-nan", reset=False, dtype=np.float64
        )
        result = np.sign(values) * np.log1p(np.abs(values))
        return pd.DataFrame(result, columns=columns, index=index) if columns is not None else result

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.requires_fit = True
        return tags


class BooleanToNumber(TransformerMixin, BaseEstimator):
    """Booleans (or anything truthy) as 0.0 / 1.0; a missing value becomes 0.0.

    Stateless; keeps DataFrame column names when given a DataFrame.
    """

    def fit(self, X, y=None):
        validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        index = X.index if isinstance(X, pd.DataFrame) else None
        values = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        missing = pd.isna(values)
        result = np.where(missing, False, values).astype(bool).astype(np.float64)
        return pd.DataFrame(result, columns=columns, index=index) if columns is not None else result

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            return np.asarray(input_features, dtype=object)
        if hasattr(self, "feature_names_in_"):
            return np.asarray(self.feature_names_in_, dtype=object)
        return np.asarray([f"x{i}" for i in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True  # any value is read by its truthiness
        return tags


class AsObject(TransformerMixin, BaseEstimator):
    """Categorical columns as Python-object strings, which feature-engine encoders expect."""

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        frame = pd.DataFrame(X).copy()
        for column in frame.columns:
            values = frame[column].astype(object)
            frame[column] = values.where(values.isna(), values.astype(str)).astype(object)
        return frame

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        return np.asarray(
            input_features if input_features is not None else self.feature_names_in_, dtype=object
        )


def _numeric_pipeline(numeric: list[str]) -> Pipeline:
    logged = [name for name in numeric if name not in BOUNDED_FEATURES]
    steps = [
        ("missing_indicator", AddMissingIndicator(missing_only=True, variables=list(numeric))),
        ("median", MeanMedianImputer(imputation_method="median", variables=list(numeric))),
        ("always_missing", ArbitraryNumberImputer(arbitrary_number=0, variables=list(numeric))),
    ]
    if logged:
        log = ColumnTransformer(
            [("log", SignedLog1p(), logged)],
            remainder="passthrough",
            verbose_feature_names_out=False,
        )
        steps.append(("signed_log1p", log))
    return Pipeline(steps)


def _categorical_pipeline(categorical: list[str]) -> Pipeline:
    return Pipeline(
        [
            ("as_object", AsObject()),
            (
                "unknown",
                CategoricalImputer(
                    fill_value="unknown", variables=list(categorical), ignore_format=True
                ),
            ),
            (
                "rare",
                RareLabelEncoder(
                    tol=RARE_SHARE,
                    n_categories=1,
                    replace_with="Rare",
                    variables=list(categorical),
                    ignore_format=True,
                    missing_values="ignore",
                ),
            ),
            ("one_hot", OneHotEncoder(variables=list(categorical), ignore_format=True)),
        ]
    )


def build_preprocessor(numeric: list[str], categorical: list[str], boolean: list[str]) -> Pipeline:
    """Build the (unfitted) preprocessor for the given feature columns.

    Parameters
    ----------
    numeric, categorical, boolean : list of str
        Feature columns of each kind, usually ``features.catalog.NUMERIC_FEATURES`` etc.
        (minus any a model leaves out). A list may be empty.

    Returns
    -------
    Pipeline
        Fit on a snapshot table; ``transform`` returns a float DataFrame whose columns
        are fixed at fit time, and accepts categories never seen in training.
    """
    parts = []
    if numeric:
        parts.append(("numeric", _numeric_pipeline(numeric), list(numeric)))
    if categorical:
        parts.append(("categorical", _categorical_pipeline(categorical), list(categorical)))
    if boolean:
        parts.append(("boolean", BooleanToNumber(), list(boolean)))
    if not parts:
        raise ValueError(
            "build_preprocessor: numeric, categorical and boolean are all empty; "
            "name at least one feature column"
        )
    columns = ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
    columns.set_output(transform="pandas")
    return Pipeline([("columns", columns), ("as_float", _AsFloat())])


class _AsFloat(TransformerMixin, BaseEstimator):
    """Every column as float64, so that models see one numeric dtype."""

    def fit(self, X, y=None):
        self.feature_names_in_ = np.asarray(pd.DataFrame(X).columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        return pd.DataFrame(X).astype(np.float64)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        return self.feature_names_in_
