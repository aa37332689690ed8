"""The model preprocessor: numeric, categorical and boolean features to model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from features.transforms import BooleanToNumber, SignedLog1p, build_preprocessor


@parametrize_with_checks([SignedLog1p(), BooleanToNumber()])
def test_own_transformers_follow_the_sklearn_contract(estimator, check):
    check(estimator)


def test_signed_log1p_keeps_the_sign():
    values = np.array([[-np.e + 1, 0.0, np.e - 1, np.nan]]).T
    np.testing.assert_allclose(
        SignedLog1p().fit_transform(values).ravel(), [-1.0, 0.0, 1.0, np.nan]
    )


def training_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "account_id": ["a", "b", "c", "d"],
            "active_users_28d": [0.0, 3.0, np.nan, 7.0],
            "stickiness": [0.1, 0.2, 0.3, np.nan],
            "days_since_legal_visit": [np.nan] * 4,
            "plan": pd.array(["free", "free", "pro", None], dtype="str"),
            "has_decision_maker": [True, False, True, False],
        }
    )


@pytest.fixture
def fitted():
    preprocessor = build_preprocessor(
        ["active_users_28d", "stickiness", "days_since_legal_visit"],
        ["plan"],
        ["has_decision_maker"],
    )
    return preprocessor.fit(training_frame())


def test_output_columns_are_fixed_at_fit(fitted):
    assert sorted(fitted.transform(training_frame()).columns) == sorted(
        [
            "active_users_28d",
            "stickiness",
            "days_since_legal_visit",
            "active_users_28d_na",
            "stickiness_na",
            "days_since_legal_visit_na",
            "plan_free",
            "plan_pro",
            "plan_unknown",
            "has_decision_maker",
        ]
    )


def test_missing_numbers_get_an_indicator_and_the_training_median(fitted):
    out = fitted.transform(training_frame())
    assert out["active_users_28d_na"].tolist() == [0.0, 0.0, 1.0, 0.0]
    # median of 0, 3, 7 is 3, then signed log1p
    assert out.loc[2, "active_users_28d"] == pytest.approx(np.log1p(3.0))
    # bounded features are not log-transformed: median of 0.1, 0.2, 0.3
    assert out.loc[3, "stickiness"] == pytest.approx(0.2)


def test_feature_missing_throughout_training_becomes_zero(fitted):
    assert (fitted.transform(training_frame())["days_since_legal_visit"] == 0.0).all()


def test_unseen_category_does_not_crash_and_sets_no_known_column(fitted):
    frame = training_frame().assign(plan=pd.array(["platinum"] * 4, dtype="str"))
    out = fitted.transform(frame)
    assert (out[["plan_free", "plan_pro", "plan_unknown"]].to_numpy() == 0).all()


def test_booleans_become_zero_or_one_and_missing_is_zero(fitted):
    frame = training_frame().assign(has_decision_maker=[True, None, False, 1])
    assert fitted.transform(frame)["has_decision_maker"].tolist() == [1.0, 0.0, 0.0, 1.0]


def test_every_output_is_float(fitted):
    assert set(fitted.transform(training_frame()).dtypes) == {np.dtype("float64")}


def test_input_is_not_modified(fitted):
    frame = training_frame()
    before = frame.copy()
    fitted.transform(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_no_columns_at_all_is_rejected():
    with pytest.raises(ValueError, match="all empty"):
        build_preprocessor([], [], [])
