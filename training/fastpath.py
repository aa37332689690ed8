"""A fast path for turning a few feature rows into model inputs, for serving.

The fitted preprocessor (feature-engine and scikit-learn transformers on DataFrames)
costs milliseconds per call whatever the number of rows. Serving scores one account at
a time, so :func:`compile_preprocessor` learns what the fitted preprocessor does to each
feature by probing it, and replays that with plain Python and numpy:

- numeric feature -> its own column (value, or a signed ``log1p`` of it; a fixed value
  when missing) and optionally a ``<name>_na`` indicator;
- categorical feature -> one of its one-hot columns, or none;
- boolean feature -> 0 or 1.

The compiled plan is checked against the real preprocessor on sample rows; if they
disagree anywhere (a preprocessor of another shape), no plan is returned and callers
use the preprocessor itself. It is only an accelerator, never a second definition.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NUMERIC_PROBES = (0.0, 0.5, 3.0, -2.0, 150.0)
UNSEEN_CATEGORY = "__never_seen_category__"
MAX_PROBED_CATEGORIES = 500


@dataclass(frozen=True)
class NumericStep:
    name: str
    column: int
    na_column: int
    missing_value: float
    log: bool


@dataclass(frozen=True)
class CategoricalStep:
    name: str
    columns: dict[str, int]
    missing_column: int
    unseen_column: int


@dataclass(frozen=True)
class BooleanStep:
    name: str
    column: int


@dataclass(frozen=True)
class CompiledPreprocessor:
    """The preprocessor's effect on each feature, replayed without pandas."""

    width: int
    numeric: tuple[NumericStep, ...]
    categorical: tuple[CategoricalStep, ...]
    boolean: tuple[BooleanStep, ...]

    def transform_records(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Return the model input matrix of shape (len(records), width)."""
        matrix = np.zeros((len(records), self.width))
        for row, record in enumerate(records):
            out = matrix[row]
            for step in self.numeric:
                value = _number(record[step.name], step.name)
                if value is None:
                    out[step.column] = step.missing_value
                    if step.na_column >= 0:
                        out[step.na_column] = 1.0
                elif step.log:
                    out[step.column] = math.copysign(math.log1p(abs(value)), value)
                else:
                    out[step.column] = value
            for step in self.categorical:
                value = record[step.name]
                if _missing(value):
                    column = step.missing_column
                else:
                    column = step.columns.get(str(value), step.unseen_column)
                if column >= 0:
                    out[column] = 1.0
            for step in self.boolean:
                value = record[step.name]
                if not _missing(value) and bool(value):
                    out[step.column] = 1.0
        return matrix


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _number(value: Any, name: str) -> float | None:
    if _missing(value):
        return None
    if isinstance(value, str | bytes):
        raise ValueError(f"feature '{name}' must be a number or null; got {value!r}.")
    number = float(value)
    return None if math.isnan(number) else number


def _signed_log1p(value: float) -> float:
    return math.copysign(math.log1p(abs(value)), value)


def compile_preprocessor(
    preprocessor: Any,
    columns: list[str],
    numeric: list[str],
    categorical: list[str],
    boolean: list[str],
    sample: pd.DataFrame,
) -> CompiledPreprocessor | None:
    """Learn a fast replay of a fitted ``preprocessor``; None if it cannot be replayed.

    Parameters
    ----------
    preprocessor : fitted transformer
        Returns a DataFrame with ``columns``.
    columns : list of str
        Its output columns, in order.
    numeric, categorical, boolean : list of str
        Input features by kind.
    sample : DataFrame
        Real feature rows (e.g. the validation snapshots): probes start from its first
        row, categories come from it, and the plan is checked against it.
    """
    try:
        plan = _probe(preprocessor, columns, numeric, categorical, boolean, sample)
    except _CannotCompile as err:
        logger.warning("No fast path for this preprocessor: %s", err)
        return None
    check = sample.head(1000)
    expected = preprocessor.transform(check).reindex(columns=columns).to_numpy(dtype=float)
    got = plan.transform_records(check.to_dict("records"))
    if not np.allclose(got, expected, rtol=1e-9, atol=1e-9, equal_nan=True):
        logger.warning("No fast path: its output differs from the preprocessor's")
        return None
    return plan


class _CannotCompile(Exception):
    pass


def _probe(preprocessor, columns, numeric, categorical, boolean, sample) -> CompiledPreprocessor:
    features = [*numeric, *categorical, *boolean]
    base = sample[features].head(1).reset_index(drop=True)
    for name in numeric:
        base.loc[0, name] = 1.0
    for name in boolean:
        base.loc[0, name] = False
    probes: list[tuple[str, Any]] = []
    probes += [(name, value) for name in numeric for value in (math.nan, *NUMERIC_PROBES)]
    categories = {
        name: [str(v) for v in pd.unique(sample[name].dropna())][:MAX_PROBED_CATEGORIES]
        for name in categorical
    }
    probes += [
        (name, value)
        for name in categorical
        for value in (None, UNSEEN_CATEGORY, *categories[name])
    ]
    probes += [(name, value) for name in boolean for value in (False, True)]
    frame = pd.concat([base] * len(probes), ignore_index=True)
    for row, (name, value) in enumerate(probes):
        frame.at[row, name] = value
    output = preprocessor.transform(frame.astype(base.dtypes.to_dict()))
    values = output.reindex(columns=columns).to_numpy(dtype=float)
    position = {column: i for i, column in enumerate(columns)}
    results: dict[tuple[str, Any], np.ndarray] = {}
    for row, probe in enumerate(probes):
        results[(probe[0], _key(probe[1]))] = values[row]

    covered: set[int] = set()
    numeric_steps = [_numeric_step(n, position, results, covered) for n in numeric]
    categorical_steps = [
        _categorical_step(n, categories[n], columns, features, results, covered)
        for n in categorical
    ]
    boolean_steps = [_boolean_step(n, position, results, covered) for n in boolean]
    if covered != set(range(len(columns))):
        missing = [columns[i] for i in sorted(set(range(len(columns))) - covered)]
        raise _CannotCompile(f"output columns {missing[:5]} come from no known step")
    return CompiledPreprocessor(
        len(columns), tuple(numeric_steps), tuple(categorical_steps), tuple(boolean_steps)
    )


def _key(value: Any) -> Any:
    return "<missing>" if _missing(value) else value


def _numeric_step(name, position, results, covered) -> NumericStep:
    if name not in position:
        raise _CannotCompile(f"numeric feature {name!r} has no output column of its name")
    column = position[name]
    na_column = position.get(f"{name}_na", -1)
    missing = results[(name, "<missing>")]
    if na_column >= 0 and missing[na_column] != 1.0:
        raise _CannotCompile(f"{name}_na is not 1 for a missing {name}")
    identity = all(_same(results[(name, v)][column], v) for v in NUMERIC_PROBES)
    logged = all(_same(results[(name, v)][column], _signed_log1p(v)) for v in NUMERIC_PROBES)
    if not (identity or logged):
        raise _CannotCompile(f"numeric feature {name!r} is neither kept nor signed-log1p'd")
    covered.add(column)
    if na_column >= 0:
        covered.add(na_column)
    return NumericStep(name, column, na_column, float(missing[column]), logged and not identity)


def _same(got: float, expected: float) -> bool:
    return math.isclose(float(got), expected, rel_tol=1e-12, abs_tol=1e-12)


def _categorical_step(name, categories, columns, features, results, covered):
    from training.model import owner_of_column

    def owner(column: str) -> str | None:
        try:
            return owner_of_column(column, features)
        except ValueError:
            return None

    own = [i for i, column in enumerate(columns) if owner(column) == name]

    def hot(value: Any) -> int:
        row = results[(name, _key(value))][own]
        if not set(np.unique(row)) <= {0.0, 1.0} or row.sum() > 1:
            raise _CannotCompile(f"categorical feature {name!r} is not one-hot encoded")
        return own[int(np.argmax(row))] if row.sum() == 1 else -1

    mapping = {value: hot(value) for value in categories}
    step = CategoricalStep(name, mapping, hot(None), hot(UNSEEN_CATEGORY))
    covered.update(own)
    return step


def _boolean_step(name, position, results, covered) -> BooleanStep:
    if name not in position:
        raise _CannotCompile(f"boolean feature {name!r} has no output column of its name")
    column = position[name]
    if results[(name, False)][column] != 0.0 or results[(name, True)][column] != 1.0:
        raise _CannotCompile(f"boolean feature {name!r} is not mapped to 0/1")
    covered.add(column)
    return BooleanStep(name, column)
