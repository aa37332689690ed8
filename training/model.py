"""The propensity model: preprocessing, classifier and calibration in one estimator.

:class:`PropensityModel` is the object logged to MLflow and served. It holds the fitted
feature preprocessor (``features.transforms.build_preprocessor``), the classifier (a
class-balanced logistic regression or LightGBM) and a calibrator fitted on the validation
snapshots, and it turns calibrated probabilities into tiers A-D.

Calibration and LightGBM's early stopping both use the validation snapshots. This is a
deliberate trade-off: the history holds few snapshot dates, and the calibrator is
Platt scaling (two parameters, monotone, so it cannot change the ranking), which leaves
little room to overfit the validation set.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from features.catalog import BOOLEAN_FEATURES, CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from training.ensemble import SeedBag
from training.fastpath import compile_preprocessor

logger = logging.getLogger(__name__)

MODEL_TYPES = ("logistic", "lightgbm")
CALIBRATIONS = ("sigmoid", "isotonic")
DEFAULT_TIER_SHARES = {"A": 0.02, "B": 0.08, "C": 0.30}
SMALL_PREDICTION_ROWS = 2000

DEFAULT_LIGHTGBM_PARAMS: dict[str, Any] = {
    "n_estimators": 1000,
    "learning_rate": 0.03,
    "max_depth": 3,
    "num_leaves": 8,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "scale_pos_weight": 1.0,
    "metric": "auc",
    "n_jobs": 2,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
"""LightGBM settings under ``cfg.training.lightgbm``; ``random_state`` defaults to the seed.

``scale_pos_weight`` is 1 (no re-weighting of the rare converters): the probabilities are
calibrated afterwards anyway, and on simulated 5,000-company worlds (seeds 0 and 1)
weighting by the negative/positive ratio, or its square root, lowered both the test
ROC-AUC and the precision among the top-ranked accounts. Set it in
``cfg.training.lightgbm`` (e.g. ``scale_pos_weight: 30`` or ``is_unbalance: true``) to
weight them.

Trees are shallow (depth 3, at most 8 leaves, 100 snapshots a leaf) and held to the
catalog's directions (see ``PropensityModel``'s ``monotone``): with a few hundred
converters in the training snapshots, a free model fits noise. A model trained on the
simulator's true probabilities instead of the realized labels reaches 96-99% of the
truth's precision at the PQA flag's count with these same features, so the gap left is
the labels' noise, not missing features. On the out-of-time test snapshots of five
simulated 5,000-company worlds in two vocabularies, the expected precision at the flag's
count (mean true probability of the accounts selected) went from 87.1% of the truth's
with free trees of 40 snapshots a leaf to 90.1% with these settings, at the same
ROC-AUC (97.5% of the truth's)."""


class PropensityModel(ClassifierMixin, BaseEstimator):
    """Calibrated probability that an account converts within the horizon.

    Parameters
    ----------
    model_type : {"lightgbm", "logistic"}, default="lightgbm"
        The classifier after the preprocessor.
    numeric, categorical, boolean : list of str or None, default=None
        Feature columns by kind; None means every feature of that kind in the catalog.
    lightgbm_params : dict or None, default=None
        Overrides of :data:`DEFAULT_LIGHTGBM_PARAMS` (``cfg.training.lightgbm``).
    calibration : {"sigmoid", "isotonic"}, default="sigmoid"
        Calibrator fitted on the validation scores. Sigmoid (Platt) keeps the ranking and
        lets :meth:`contributions` add up exactly to the calibrated log-odds.
    tier_shares : dict or None, default=None
        Share of validation accounts per tier, best first (``cfg.scoring.tier_shares``);
        the remaining accounts form the last tier.
    early_stopping_rounds : int, default=100
        LightGBM stops when validation ROC-AUC has not improved for this many rounds.
    bags : int, default=5
        LightGBM is fitted this many times with seeds ``random_state``,
        ``random_state + 1``, ... and predicts as the members' mean log-odds (see
        :mod:`training.ensemble`); 1 fits a single model.
    monotone : bool, default=True
        Hold LightGBM to each catalog feature's ``direction``: the score never falls
        as active users, value volume or security visits grow, nor rises as the days
        since the last pricing visit grow. The constraint applies to the preprocessed
        column named after the feature, so the preprocessor must keep that column
        in the same order as the feature (the default one does: median imputation and
        a signed log). Ignored when ``lightgbm_params`` sets ``monotone_constraints``.
    preprocessor : transformer or None, default=None
        Unfitted transformer producing a numeric DataFrame whose columns are named after
        the input features (``plan_free``, ``days_since_pricing_visit_na``...). None means
        ``features.transforms.build_preprocessor(numeric, categorical, boolean)``.
    random_state : int, default=42
        Seed of every random choice.

    Attributes
    ----------
    features_ : list of str
        Input feature columns, in order.
    columns_ : list of str
        Preprocessed columns the classifier sees.
    tier_cutoffs_ : dict of str to float
        Lowest calibrated probability of each tier but the last.
    metadata_ : dict
        Everything a consumer needs to know about the model (features, target, windows,
        tier cut-offs, metrics...); training adds to it with :meth:`describe`.
    """

    def __init__(
        self,
        model_type: str = "lightgbm",
        numeric: list[str] | None = None,
        categorical: list[str] | None = None,
        boolean: list[str] | None = None,
        lightgbm_params: dict[str, Any] | None = None,
        calibration: str = "sigmoid",
        tier_shares: dict[str, float] | None = None,
        early_stopping_rounds: int = 100,
        bags: int = 5,
        monotone: bool = True,
        preprocessor: Any = None,
        random_state: int = 42,
    ) -> None:
        self.model_type = model_type
        self.numeric = numeric
        self.categorical = categorical
        self.boolean = boolean
        self.lightgbm_params = lightgbm_params
        self.calibration = calibration
        self.tier_shares = tier_shares
        self.early_stopping_rounds = early_stopping_rounds
        self.bags = bags
        self.monotone = monotone
        self.preprocessor = preprocessor
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        X: pd.DataFrame,
        y: Any,
        X_valid: pd.DataFrame | None = None,
        y_valid: Any = None,
    ) -> PropensityModel:
        """Fit the preprocessor and classifier on ``X``; calibrate on the validation set.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            Training snapshots holding at least the feature columns.
        y : array-like of shape (n_samples,)
            1/True when the account converted within the horizon.
        X_valid, y_valid : DataFrame and array-like
            Later snapshots for early stopping, calibration and tier cut-offs.

        Returns
        -------
        self : PropensityModel
        """
        self._check_params()
        if X_valid is None or y_valid is None:
            raise ValueError(
                "PropensityModel.fit needs X_valid and y_valid: the validation snapshots "
                "calibrate the probabilities; pass the snapshots after the training window."
            )
        y = _binary(y, "y")
        y_valid = _binary(y_valid, "y_valid")
        for name, labels in (("y", y), ("y_valid", y_valid)):
            if labels.min() == labels.max():
                raise ValueError(
                    f"{name} holds only {'positive' if labels[0] else 'negative'} labels "
                    f"({len(labels)} snapshots); training needs both converting and "
                    "non-converting accounts. Use a longer history or more accounts."
                )
        self.numeric_ = list(NUMERIC_FEATURES if self.numeric is None else self.numeric)
        self.categorical_ = list(
            CATEGORICAL_FEATURES if self.categorical is None else self.categorical
        )
        self.boolean_ = list(BOOLEAN_FEATURES if self.boolean is None else self.boolean)
        self.features_ = [*self.numeric_, *self.categorical_, *self.boolean_]
        self.classes_ = np.array([0, 1])

        train = self._select(X, record_dtypes=True)
        valid = self._select(X_valid)
        self.preprocessor_ = self._new_preprocessor().fit(train, y)
        train_matrix = self._transform(train, fitted_columns=False)
        valid_matrix = self._transform(valid)
        self.owner_matrix_ = _owner_matrix(self.columns_, self.features_)
        self.fast_path_ = compile_preprocessor(
            self.preprocessor_,
            self.columns_,
            self.numeric_,
            self.categorical_,
            self.boolean_,
            valid,
        )

        if self.model_type == "logistic":
            self._fit_logistic(train_matrix, y)
        else:
            self._fit_lightgbm(train_matrix, y, valid_matrix, y_valid)

        valid_margin = self._margin(valid_matrix)
        self._fit_calibrator(valid_margin, y_valid)
        valid_probability = self._calibrate(valid_margin)
        self.tier_cutoffs_ = _tier_cutoffs(valid_probability, self._tier_shares())
        self.metadata_ = {
            "model_type": self.model_type,
            "features": list(self.features_),
            "feature_kinds": {
                "numeric": list(self.numeric_),
                "categorical": list(self.categorical_),
                "boolean": list(self.boolean_),
            },
            "calibration": self.calibration,
            "tier_cutoffs": dict(self.tier_cutoffs_),
            "tier_shares": self._tier_shares(),
            "train_snapshots": len(train),
            "train_positives": int(y.sum()),
            "validation_snapshots": len(valid),
            "validation_positives": int(y_valid.sum()),
        }
        if self.model_type == "lightgbm":
            self.metadata_["best_iteration"] = int(self.best_iteration_)
        logger.debug("Fitted %s on %d snapshots", self.model_type, len(train))
        return self

    def describe(self, **info: Any) -> PropensityModel:
        """Add facts about the training (target, windows, metrics...) to ``metadata_``."""
        self._check_fitted()
        self.metadata_.update(info)
        return self

    def _check_params(self) -> None:
        if not isinstance(self.bags, int) or isinstance(self.bags, bool) or self.bags < 1:
            raise ValueError(f"bags must be a whole number of at least 1; got {self.bags!r}.")
        if self.model_type not in MODEL_TYPES:
            raise ValueError(
                f"model_type must be one of {', '.join(MODEL_TYPES)}; got {self.model_type!r}."
            )
        if self.calibration not in CALIBRATIONS:
            raise ValueError(
                f"calibration must be one of {', '.join(CALIBRATIONS)}; got {self.calibration!r}."
            )

    def _tier_shares(self) -> dict[str, float]:
        return dict(DEFAULT_TIER_SHARES if self.tier_shares is None else self.tier_shares)

    def _new_preprocessor(self):
        if self.preprocessor is None:
            from features.transforms import build_preprocessor

            preprocessor = build_preprocessor(self.numeric_, self.categorical_, self.boolean_)
        else:
            preprocessor = clone(self.preprocessor)
        if hasattr(preprocessor, "set_output"):
            preprocessor.set_output(transform="pandas")
        return preprocessor

    def _fit_logistic(self, matrix: np.ndarray, y: np.ndarray) -> None:
        self.scaler_ = StandardScaler().fit(matrix)
        self.classifier_ = LogisticRegression(
            class_weight="balanced", max_iter=5000, random_state=self.random_state
        ).fit(self.scaler_.transform(matrix), y)

    def _fit_lightgbm(
        self, matrix: np.ndarray, y: np.ndarray, valid: np.ndarray, y_valid: np.ndarray
    ) -> None:
        import lightgbm as lgb

        params = {
            **DEFAULT_LIGHTGBM_PARAMS,
            "random_state": self.random_state,
            **(self.lightgbm_params or {}),
        }
        if params.get("is_unbalance"):
            # LightGBM refuses both at once; is_unbalance then replaces the default weight.
            params.pop("scale_pos_weight", None)
        if self.monotone and "monotone_constraints" not in params:
            params["monotone_constraints"] = monotone_constraints(self.columns_, self.features_)
            params.setdefault("monotone_constraints_method", "advanced")
        members = []
        for offset in range(self.bags):
            member = lgb.LGBMClassifier(
                **{**params, "random_state": params["random_state"] + offset}
            )
            member.fit(
                matrix,
                y,
                eval_X=(valid,),
                eval_y=(y_valid,),
                callbacks=[
                    lgb.early_stopping(
                        self.early_stopping_rounds, first_metric_only=True, verbose=False
                    )
                ],
            )
            members.append(member)
        self.classifier_ = SeedBag(members)
        self.best_iteration_ = self.classifier_.best_iteration_

    def _fit_calibrator(self, margin: np.ndarray, y: np.ndarray) -> None:
        if self.calibration == "sigmoid":
            platt = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            self.calibration_slope_ = float(platt.coef_[0, 0])
            self.calibration_intercept_ = float(platt.intercept_[0])
            self.calibrator_ = None
        else:
            self.calibration_slope_ = 1.0
            self.calibration_intercept_ = 0.0
            self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(
                margin, y
            )

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Return calibrated probabilities.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)
            Snapshots holding at least the feature columns; extra columns are ignored.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Column 1 is the probability of converting within the horizon.
        """
        self._check_fitted()
        probability = self._calibrate(self._margin(self._transform(self._select(X))))
        return np.column_stack([1.0 - probability, probability])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Return 1 where the calibrated probability is at least 0.5, else 0."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def predict_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Return calibrated probabilities for feature rows given as dictionaries.

        The fast path for serving: when the preprocessor could be compiled (see
        :mod:`training.fastpath`), rows go straight to a numpy matrix without pandas;
        otherwise they take the same path as :meth:`predict_proba`.

        Parameters
        ----------
        records : list of dict
            One mapping per account from feature name to value (None = unknown).

        Returns
        -------
        ndarray of shape (n_records,)
        """
        return self._calibrate(self._margin(self._records_matrix(records)))

    def contributions_records(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """:meth:`contributions` for feature rows given as dictionaries (fast path)."""
        return self._contributions(self._records_matrix(records), pd.RangeIndex(len(records)))

    def _records_matrix(self, records: list[dict[str, Any]]) -> np.ndarray:
        self._check_fitted()
        self._check_records(records)
        if self.fast_path_ is not None and len(records) < SMALL_PREDICTION_ROWS:
            return self.fast_path_.transform_records(records)
        return self._transform(self._select(self.frame_from_records(records)))

    def _check_records(self, records: list[dict[str, Any]]) -> None:
        missing = sorted({f for r in records for f in self.features_ if f not in r})
        if missing:
            raise ValueError(
                f"feature row(s) lack {missing[:10]}{' ...' if len(missing) > 10 else ''}; "
                "every row needs all model features (see metadata_['features'])."
            )

    def frame_from_records(self, records: list[dict[str, Any]]) -> pd.DataFrame:
        """Build a feature frame with the training dtypes from row dictionaries."""
        self._check_fitted()
        self._check_records(records)
        columns = {}
        for name in self.numeric_:
            columns[name] = np.array(
                [np.nan if r[name] is None else r[name] for r in records], dtype=float
            )
        for name in self.categorical_:
            columns[name] = pd.array([r[name] for r in records], dtype=self.dtypes_[name])
        for name in self.boolean_:
            columns[name] = np.array([bool(r[name]) for r in records], dtype=bool)
        return pd.DataFrame(columns)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Return each feature's push on the account's log-odds, and the ``bias``.

        LightGBM contributions come from ``pred_contrib=True`` (exact tree SHAP values);
        logistic regression's are coefficient times standardized value. Contributions of
        the preprocessed columns that came from one feature (one-hot columns, missing
        indicators) are summed back onto that feature. With sigmoid calibration the
        values are rescaled so that a row's contributions plus ``bias`` equal the logit
        of its calibrated probability.

        Parameters
        ----------
        X : DataFrame of shape (n_samples, n_columns)

        Returns
        -------
        DataFrame of shape (n_samples, n_features + 1)
            One column per feature plus ``bias``, indexed like ``X``.
        """
        self._check_fitted()
        return self._contributions(self._transform(self._select(X)), X.index)

    def _contributions(self, matrix: np.ndarray, index: pd.Index) -> pd.DataFrame:
        if self.model_type == "lightgbm":
            raw = self.classifier_.booster_.predict(
                matrix, pred_contrib=True, **_threads(len(matrix))
            )
            per_column, bias = raw[:, :-1], raw[:, -1]
        else:
            per_column = self.scaler_.transform(matrix) * self.classifier_.coef_[0]
            bias = np.full(len(matrix), float(self.classifier_.intercept_[0]))
        per_feature = per_column @ self.owner_matrix_
        per_feature = per_feature * self.calibration_slope_
        bias = bias * self.calibration_slope_ + self.calibration_intercept_
        frame = pd.DataFrame(per_feature, columns=self.features_, index=index)
        frame["bias"] = bias
        return frame

    def tier(self, probabilities: Any) -> np.ndarray:
        """Return the tier letter ('A' best ... 'D') of each calibrated probability."""
        self._check_fitted()
        values = np.asarray(probabilities, dtype=float)
        names = list(self.tier_cutoffs_)
        conditions = [values >= self.tier_cutoffs_[name] for name in names]
        return np.select(conditions, names, default=_rest_tier(names)).astype(object)

    def feature_importance(self) -> pd.Series:
        """Return the importance of each feature (LightGBM gain, or |coefficient|)."""
        self._check_fitted()
        if self.model_type == "lightgbm":
            per_column = self.classifier_.booster_.feature_importance(importance_type="gain")
        else:
            per_column = np.abs(self.classifier_.coef_[0])
        values = np.asarray(per_column, dtype=float) @ self.owner_matrix_
        return pd.Series(values, index=self.features_).sort_values(ascending=False)

    # ------------------------------------------------------------------ internals

    def _check_fitted(self) -> None:
        if not hasattr(self, "metadata_"):
            raise ValueError(
                "this PropensityModel is not fitted yet; call fit(X, y, X_valid, y_valid) "
                "or load a trained model from the registry."
            )

    def _select(self, X: pd.DataFrame, record_dtypes: bool = False) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"X must be a pandas DataFrame of feature columns; got {type(X).__name__}."
            )
        missing = [name for name in self.features_ if name not in X.columns]
        if missing:
            raise ValueError(
                f"X lacks feature column(s) {missing[:10]}{' ...' if len(missing) > 10 else ''}"
                "; compute them with features.snapshots.compute_features."
            )
        frame = X[self.features_]
        if self.numeric_:
            numeric = frame[self.numeric_]
            if not all(dtype == np.float64 for dtype in numeric.dtypes):
                frame = frame.astype(dict.fromkeys(self.numeric_, np.float64))
        if record_dtypes:
            self.dtypes_ = {name: frame[name].dtype for name in self.features_}
        return frame

    def _transform(self, frame: pd.DataFrame, fitted_columns: bool = True) -> np.ndarray:
        transformed = self.preprocessor_.transform(frame)
        if not isinstance(transformed, pd.DataFrame):
            raise TypeError(
                "the preprocessor must return a DataFrame with named columns; got "
                f"{type(transformed).__name__}. Use set_output(transform='pandas')."
            )
        if not fitted_columns:
            self.columns_ = [str(c) for c in transformed.columns]
        elif list(transformed.columns) != self.columns_:
            transformed = transformed.reindex(columns=self.columns_, fill_value=0.0)
        return transformed.to_numpy(dtype=float)

    def _margin(self, matrix: np.ndarray) -> np.ndarray:
        if self.model_type == "lightgbm":
            return self.classifier_.booster_.predict(
                matrix, raw_score=True, **_threads(len(matrix))
            )
        return self.classifier_.decision_function(self.scaler_.transform(matrix))

    def _calibrate(self, margin: np.ndarray) -> np.ndarray:
        if self.calibrator_ is not None:
            return np.clip(self.calibrator_.predict(margin), 0.0, 1.0)
        logit = self.calibration_slope_ * margin + self.calibration_intercept_
        return 1.0 / (1.0 + np.exp(-logit))


def _threads(rows: int) -> dict[str, int]:
    """LightGBM prediction threads: one for small inputs, where starting threads costs
    more than it saves (serving predicts one account at a time); the model's own
    setting otherwise."""
    return {"num_threads": 1} if rows < SMALL_PREDICTION_ROWS else {}


def _binary(labels: Any, name: str) -> np.ndarray:
    values = np.asarray(labels)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-d array of labels; got shape {values.shape}."
        )
    unique = set(np.unique(values).tolist())
    if not unique <= {0, 1}:
        raise ValueError(f"{name} must hold 0/1 or booleans; got values {sorted(unique)[:5]}.")
    return values.astype(int)


def owner_of_column(column: str, features: list[str]) -> str:
    """Return the input feature a preprocessed column came from (longest name prefix).

    ``plan_free`` and ``plan_infrequent`` come from ``plan``; ``days_since_pricing_visit_na``
    from ``days_since_pricing_visit``; a ColumnTransformer prefix ``num__`` is ignored.
    """
    name = column.rsplit("__", 1)[-1]
    candidates = [f for f in features if name == f or name.startswith(f + "_")]
    if not candidates:
        raise ValueError(
            f"preprocessed column {column!r} matches no input feature; the preprocessor "
            "must name its outputs after the features they come from."
        )
    return max(candidates, key=len)


def monotone_constraints(columns: list[str], features: list[str]) -> list[int]:
    """LightGBM's ``monotone_constraints`` for preprocessed ``columns``.

    A column named after its feature gets the feature's catalog ``direction``; derived
    columns (missing-value indicators, one-hot categories) and features outside the
    catalog get 0 (unconstrained).
    """
    constraints = []
    for column in columns:
        owner = owner_of_column(column, features)
        spec = FEATURES.get(owner)
        constrained = spec is not None and column.rsplit("__", 1)[-1] == owner
        constraints.append(spec.direction if constrained else 0)
    return constraints


def _owner_matrix(columns: list[str], features: list[str]) -> np.ndarray:
    index = {name: i for i, name in enumerate(features)}
    matrix = np.zeros((len(columns), len(features)))
    for row, column in enumerate(columns):
        matrix[row, index[owner_of_column(column, features)]] = 1.0
    return matrix


def _tier_cutoffs(probabilities: np.ndarray, shares: dict[str, float]) -> dict[str, float]:
    """Lowest probability of each tier so that the tiers hold ``shares`` of accounts."""
    cutoffs: dict[str, float] = {}
    cumulative = 0.0
    for name, share in shares.items():
        cumulative += share
        if not 0.0 < cumulative <= 1.0:
            raise ValueError(f"tier shares must be positive and add up to at most 1; got {shares}.")
        cutoffs[name] = float(np.quantile(probabilities, 1.0 - cumulative))
    return cutoffs


def _rest_tier(names: list[str]) -> str:
    last = names[-1] if names else "@"
    if len(last) == 1 and last.isalpha() and last != "Z":
        return chr(ord(last) + 1)
    return "rest"
