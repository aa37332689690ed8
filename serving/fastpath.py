"""A numpy fast path for a fitted PropensityModel, checked against the model itself.

The model's preprocessor is a scikit-learn/feature-engine pipeline working on
DataFrames: on one account it spends ~100 ms in pandas overhead, against a 5 ms
budget for a single-row score. :func:`compile_model` reads the fitted state of the
preprocessor steps that :func:`features.transforms.build_preprocessor` makes (missing
indicators, median and arbitrary imputation, signed log1p, rare-label grouping,
one-hot, booleans) and of the classifier and Platt calibration, and redoes them with
numpy arrays.

The compiled model is only used when it reproduces the model's own contributions and
probabilities on probe rows (missing values, unseen categories, extremes included);
for any other model, or any difference, :func:`compile_model` returns the model
unchanged, so scores never depend on whether the fast path applies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

MISSING_CATEGORY = "unknown"
RARE_CATEGORY = "Rare"
TOLERANCE = 1e-9


@dataclass
class _Numeric:
    fill: float
    log: bool


@dataclass
class _Categorical:
    frequent: frozenset | None
    categories: list = field(default_factory=list)


class CompiledModel:
    """Drop-in replacement for a PropensityModel in :func:`serving.scoring.score_frame`.

    Offers ``metadata_``, ``calibration``, ``contributions``, ``predict_proba`` and
    ``tier`` like the model, computed from numpy arrays.
    """

    def __init__(self, model: Any, plan: dict[str, Any]) -> None:
        self.model = model
        self.metadata_ = model.metadata_
        self.calibration = "sigmoid"
        self._plan = plan

    def matrix(self, columns: Mapping[str, Any]) -> np.ndarray:
        """The preprocessed model inputs of the rows in ``columns`` (DataFrame or mapping)."""
        plan = self._plan
        n = len(np.asarray(columns[self.model.features_[0]]))
        out = np.zeros((n, len(plan["columns"])), dtype=float)
        for feature, spec in plan["numeric"].items():
            values = np.asarray(columns[feature], dtype=float)
            missing = np.isnan(values)
            if (index := plan["indicator"].get(feature)) is not None:
                out[:, index] = missing
            filled = np.where(missing, spec.fill, values)
            if spec.log:
                filled = np.sign(filled) * np.log1p(np.abs(filled))
            if (index := plan["value"].get(feature)) is not None:
                out[:, index] = filled
        for feature, spec in plan["categorical"].items():
            labels = _labels(columns[feature], spec.frequent)
            for category, index in plan["one_hot"][feature]:
                out[:, index] = labels == category
        for feature in plan["boolean"]:
            if (index := plan["value"].get(feature)) is not None:
                out[:, index] = _flags(columns[feature])
        return out

    def _contributions(self, columns: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature contributions and bias in calibrated log-odds units."""
        model = self.model
        matrix = self.matrix(columns)
        if model.model_type == "lightgbm":
            # One thread: starting OpenMP threads costs ~5 ms, more than a whole score.
            raw = model.classifier_.booster_.predict(matrix, pred_contrib=True, num_threads=1)
            per_column, bias = raw[:, :-1], raw[:, -1]
        else:
            scaled = (matrix - model.scaler_.mean_) / model.scaler_.scale_
            per_column = scaled * model.classifier_.coef_[0]
            bias = np.full(len(matrix), float(model.classifier_.intercept_[0]))
        per_feature = (per_column @ model.owner_matrix_) * model.calibration_slope_
        return per_feature, bias * model.calibration_slope_ + model.calibration_intercept_

    def explain(self, columns: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Return (calibrated probabilities, per-feature contributions, feature names).

        The contributions exclude the bias; the probability is the sigmoid of their
        sum plus the bias, as for the model.
        """
        per_feature, bias = self._contributions(columns)
        logit = per_feature.sum(axis=1) + bias
        return 1.0 / (1.0 + np.exp(-logit)), per_feature, list(self.model.features_)

    def contributions(self, frame: Mapping[str, Any]) -> pd.DataFrame:
        """Per-feature log-odds contributions and ``bias``, as the model computes them."""
        per_feature, bias = self._contributions(frame)
        result = pd.DataFrame(per_feature, columns=list(self.model.features_))
        result["bias"] = bias
        return result

    def predict_proba(self, frame: Mapping[str, Any]) -> np.ndarray:
        probability, _, _ = self.explain(frame)
        return np.column_stack([1.0 - probability, probability])

    def tier(self, probabilities: Any) -> np.ndarray:
        return self.model.tier(probabilities)


def _labels(values: Any, frequent: frozenset | None) -> np.ndarray:
    """Categories as the pipeline sees them: text, 'unknown' if missing, 'Rare' if rare."""
    labels = []
    for value in np.asarray(values, dtype=object).tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            label = MISSING_CATEGORY
        else:
            label = str(value)
        if frequent is not None and label not in frequent:
            label = RARE_CATEGORY
        labels.append(label)
    return np.array(labels, dtype=object)


def _flags(values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == bool:
        return array.astype(float)
    return np.array(
        [
            0.0
            if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
            else float(bool(v))
            for v in array.tolist()
        ]
    )


def compile_model(model: Any) -> Any:
    """Return a :class:`CompiledModel` equivalent to ``model``, or ``model`` itself.

    Parameters
    ----------
    model : PropensityModel
        A fitted model whose preprocessor comes from
        :func:`features.transforms.build_preprocessor` and whose calibration is sigmoid.

    Returns
    -------
    CompiledModel or the model
        The model itself when its structure is not the supported one or the compiled
        version disagrees with it on probe rows (logged as a warning).
    """
    try:
        plan = _plan(model)
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        logger.info("No numpy fast path for this model (%s); using the model itself", err)
        return model
    compiled = CompiledModel(model, plan)
    probe = probe_frame(model)
    expected = model.contributions(probe).to_numpy()
    got = compiled.contributions(probe).to_numpy()
    same_probability = np.allclose(
        model.predict_proba(probe)[:, 1],
        compiled.predict_proba(probe)[:, 1],
        rtol=TOLERANCE,
        atol=1e-12,
    )
    if not (np.allclose(expected, got, rtol=TOLERANCE, atol=1e-12) and same_probability):
        logger.warning(
            "The numpy fast path disagrees with the model on probe rows (largest "
            "difference %.3g); scoring with the model itself",
            float(np.max(np.abs(expected - got))),
        )
        return model
    logger.info("Numpy fast path checked against the model on %d probe rows", len(probe))
    return compiled


def _plan(model: Any) -> dict[str, Any]:
    from feature_engine.encoding import OneHotEncoder, RareLabelEncoder
    from feature_engine.imputation import (
        AddMissingIndicator,
        ArbitraryNumberImputer,
        CategoricalImputer,
        MeanMedianImputer,
    )
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from features.transforms import AsObject, BooleanToNumber, SignedLog1p

    if model.calibration != "sigmoid" or model.model_type not in ("lightgbm", "logistic"):
        raise ValueError(f"{model.model_type} with {model.calibration} calibration")
    pipeline = model.preprocessor_
    steps = [step for _, step in pipeline.steps]
    if not (isinstance(pipeline, Pipeline) and isinstance(steps[0], ColumnTransformer)):
        raise TypeError("the preprocessor is not a Pipeline around a ColumnTransformer")
    if len(steps) != 2 or type(steps[1]).__name__ != "_AsFloat":
        raise TypeError("unexpected steps after the ColumnTransformer")

    numeric: dict[str, _Numeric] = {}
    categorical: dict[str, _Categorical] = {}
    boolean: list[str] = []
    indicators: set[str] = set()
    for name, part, features in steps[0].transformers_:
        if name == "remainder":
            continue
        parts = part.steps if isinstance(part, Pipeline) else [(name, part)]
        if isinstance(part, BooleanToNumber):
            boolean += list(features)
            continue
        fill = dict.fromkeys(features, np.nan)
        logged: set[str] = set()
        frequent: dict[str, frozenset] = {}
        one_hot: dict[str, list] = {}
        for _, step in parts:
            if isinstance(step, AddMissingIndicator):
                indicators |= set(step.variables_)
            elif isinstance(step, MeanMedianImputer | ArbitraryNumberImputer):
                for feature, value in step.imputer_dict_.items():
                    if np.isnan(fill[feature]):
                        fill[feature] = float(value)
            elif isinstance(step, ColumnTransformer):
                for _, inner, inner_features in step.transformers_:
                    if isinstance(inner, SignedLog1p):
                        logged |= set(inner_features)
                    elif not _is_identity(inner):
                        raise TypeError(f"unsupported step {type(inner).__name__}")
            elif isinstance(step, RareLabelEncoder):
                frequent = {f: frozenset(map(str, v)) for f, v in step.encoder_dict_.items()}
            elif isinstance(step, OneHotEncoder):
                if step.drop_last or step.drop_last_binary:
                    raise ValueError("one-hot encoding that drops categories")
                one_hot = {f: [str(c) for c in v] for f, v in step.encoder_dict_.items()}
            elif isinstance(step, CategoricalImputer):
                if step.fill_value != MISSING_CATEGORY:
                    raise ValueError(f"categorical fill value {step.fill_value!r}")
            elif not isinstance(step, AsObject):
                raise TypeError(f"unsupported step {type(step).__name__}")
        if one_hot:
            for feature in features:
                categorical[feature] = _Categorical(frequent.get(feature), one_hot[feature])
        else:
            for feature in features:
                numeric[feature] = _Numeric(
                    0.0 if np.isnan(fill[feature]) else fill[feature], feature in logged
                )

    columns = list(model.columns_)
    position = {name: i for i, name in enumerate(columns)}
    plan = {
        "columns": columns,
        "numeric": numeric,
        "categorical": categorical,
        "boolean": boolean,
        "indicator": {f: position[f"{f}_na"] for f in indicators},
        "value": {f: position[f] for f in [*numeric, *boolean] if f in position},
        "one_hot": {
            f: [(c, position[f"{f}_{c}"]) for c in spec.categories]
            for f, spec in categorical.items()
        },
    }
    covered = set(plan["indicator"].values()) | set(plan["value"].values())
    covered |= {i for pairs in plan["one_hot"].values() for _, i in pairs}
    if covered != set(range(len(columns))):
        missing = sorted(columns[i] for i in set(range(len(columns))) - covered)
        raise ValueError(f"model inputs {missing[:5]} are not reproduced")
    return plan


def _is_identity(step: Any) -> bool:
    """A fitted 'passthrough' (sklearn stores it as an identity FunctionTransformer)."""
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(step, str):
        return step in ("passthrough", "drop")
    return isinstance(step, FunctionTransformer) and step.func is None


def probe_frame(model: Any) -> pd.DataFrame:
    """Rows that exercise every branch: missing, zero, negative, large, typical values,
    every known category, an unseen category and missing categories and flags."""
    rows = 12
    columns: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for feature in model.numeric_:
        values = rng.gamma(1.5, 20.0, rows)
        values[[0, 5]] = np.nan
        values[1], values[2], values[3] = 0.0, -3.5, 1e6
        columns[feature] = values
    for feature in model.categorical_:
        known = _known_categories(model, feature)
        cycle = [*known, "never-seen-category", None]
        columns[feature] = pd.array([cycle[i % len(cycle)] for i in range(rows)], dtype=object)
    for feature in model.boolean_:
        columns[feature] = np.array([i % 3 == 0 for i in range(rows)], dtype=bool)
    return pd.DataFrame(columns)


def _known_categories(model: Any, feature: str) -> list[str]:
    prefix = f"{feature}_"
    return [c[len(prefix) :] for c in model.columns_ if c.startswith(prefix)] or ["x"]
