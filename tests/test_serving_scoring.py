"""score_frame: one function for batch and service; fields, order, plays and reasons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from features.catalog import (
    AUXILIARY_COLUMNS,
    BOOLEAN_FEATURES,
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
)
from pqa.config import load_config
from serving.scoring import SCORE_COLUMNS, score_frame, scores_to_records
from training.model import PropensityModel

AS_OF = pd.Timestamp("2025-06-01", tz="UTC")


def feature_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Random but plausible feature rows for n accounts."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "account_id": [f"acct{i}.io" for i in range(n)],
            "as_of": pd.DatetimeIndex([AS_OF] * n),
            **{name: rng.gamma(2.0, 5.0, n) for name in NUMERIC_FEATURES},
            **{name: rng.choice(["a", "b", "unknown"], n) for name in CATEGORICAL_FEATURES},
            **{name: rng.random(n) < 0.5 for name in BOOLEAN_FEATURES},
            **{
                name: pd.DatetimeIndex([AS_OF - pd.Timedelta(days=3)] * n)
                for name in AUXILIARY_COLUMNS
            },
        }
    )
    frame["adoption_stage"] = rng.choice(["individual", "team", "organization"], n)
    frame.loc[rng.random(n) < 0.3, "days_since_security_visit"] = math.nan
    return frame


def simple_preprocessor() -> ColumnTransformer:
    """Median imputation and one-hot, with outputs named after their features."""
    return ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median", keep_empty_features=True), NUMERIC_FEATURES),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                CATEGORICAL_FEATURES,
            ),
            ("bool", "passthrough", BOOLEAN_FEATURES),
        ],
        verbose_feature_names_out=False,
    )


@pytest.fixture(scope="module")
def model():
    train, valid = feature_rows(300, seed=1), feature_rows(200, seed=2)

    def label(frame):
        return (frame["active_users_28d"] + 5 * frame["has_decision_maker"] > 14).to_numpy()

    fitted = PropensityModel(model_type="logistic", preprocessor=simple_preprocessor())
    return fitted.fit(train, label(train), valid, label(valid))


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def test_scores_have_every_field_in_input_order(model, cfg):
    frame = feature_rows(5, seed=3).iloc[::-1]

    scores = score_frame(model, frame, cfg, "pqa-propensity/7")

    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert scores["account_id"].tolist() == [
        "acct4.io",
        "acct3.io",
        "acct2.io",
        "acct1.io",
        "acct0.io",
    ]
    assert (scores["model_version"] == "pqa-propensity/7").all()
    assert scores["stage"].tolist() == frame["adoption_stage"].tolist()
    assert scores["as_of"].tolist() == [AS_OF] * 5


def test_propensity_and_tier_come_from_the_model(model, cfg):
    frame = feature_rows(20, seed=4)

    scores = score_frame(model, frame, cfg, "v")

    expected = model.predict_proba(frame)[:, 1]
    np.testing.assert_allclose(scores["propensity"], expected)
    assert scores["tier"].tolist() == list(model.tier(expected))


def test_reasons_follow_the_largest_contributions(model, cfg):
    frame = feature_rows(3, seed=5)

    scores = score_frame(model, frame, cfg, "v")

    contributions = model.contributions(frame).drop(columns="bias")
    for row, reasons in enumerate(scores["reasons"]):
        ups = [r for r in reasons if r["direction"] == "up"]
        strongest = contributions.iloc[row].sort_values(ascending=False).index[: len(ups)]
        assert [r["feature"] for r in ups] == list(strongest)
        assert len(ups) <= cfg.scoring.reasons
        for reason in reasons:
            assert reason["contribution"] == pytest.approx(
                contributions.iloc[row][reason["feature"]]
            )


def test_pqa_flag_rules_and_play_for_a_crafted_account(model, cfg):
    frame = feature_rows(2, seed=6)
    pqa, young = frame.index
    frame.loc[pqa, ["active_users_28d", "value_events_28d", "tenure_days"]] = [9.0, 500.0, 120.0]
    frame.loc[pqa, ["max_users_added_in_day_90d", "days_since_security_visit"]] = [2.0, math.nan]
    frame.loc[pqa, ["days_since_legal_visit", "admin_changes_90d"]] = [math.nan, 0.0]
    frame.loc[pqa, ["activity_spike_score", "has_decision_maker"]] = [1.0, False]
    frame.loc[young, ["active_users_28d", "tenure_days"]] = [2.0, 10.0]

    records = scores_to_records(score_frame(model, frame, cfg, "v"))

    assert records[0]["pqa"] is True
    assert records[0]["pqa_rules"] == [
        {"name": "rule_of_seven", "reason": "9 active users in the last 28 days"},
        {"name": "value_volume", "reason": "500 value actions in the last 28 days"},
    ]
    assert (records[0]["play"], records[0]["owner"]) == ("find_buyer", "marketing")
    assert records[1]["pqa"] is False
    assert (records[1]["play"], records[1]["owner"]) == ("wait", "none")
    assert records[1]["as_of"] == "2025-06-01"


def test_missing_feature_column_is_named(model, cfg):
    frame = feature_rows(2).drop(columns="stickiness")

    with pytest.raises(ValueError, match=r"lacks column\(s\) \['stickiness'\]"):
        score_frame(model, frame, cfg, "v")


def test_empty_feature_table_gives_empty_scores(model, cfg):
    scores = score_frame(model, feature_rows(1).iloc[:0], cfg, "v")

    assert scores.empty and list(scores.columns) == list(SCORE_COLUMNS)


def test_catalog_features_all_reach_the_model(model):
    assert sorted(model.metadata_["features"]) == sorted(FEATURES)
