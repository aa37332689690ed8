"""Metrics, rules baseline, time split and tiers on toy cases checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training import metrics
from training.baseline import RulesBaseline
from training.dataset import rules_levels, time_split
from training.model import _tier_cutoffs, owner_of_column

# Five snapshots: positives score 0.9 and 0.7, negatives 0.8, 0.2, 0.1.
Y = [1, 0, 1, 0, 0]
P = [0.9, 0.8, 0.7, 0.2, 0.1]


def test_roc_auc_counts_correctly_ordered_pairs():
    # 0.9 beats all three negatives, 0.7 beats two of them: 5 of 6 pairs.
    assert metrics.roc_auc(Y, P) == pytest.approx(5 / 6)


def test_pr_auc_is_average_precision_at_each_positive():
    # Positives at ranks 1 and 3: precision 1/1 and 2/3, each for half of the recall.
    assert metrics.pr_auc(Y, P) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_brier_is_the_mean_squared_error():
    assert metrics.brier(Y, P) == pytest.approx((0.01 + 0.64 + 0.09 + 0.04 + 0.01) / 5)


def test_log_loss_is_the_mean_negative_log_likelihood():
    expected = -(math.log(0.9) + math.log(0.2) + math.log(0.7) + math.log(0.8) + math.log(0.9))
    assert metrics.log_loss(Y, P) == pytest.approx(expected / 5)


def test_calibration_error_weights_each_bin_by_its_share():
    # One snapshot per bin: |1-0.9|, |0-0.8|, |1-0.7|, |0-0.2|, |0-0.1| averaged.
    assert metrics.calibration_error(Y, P) == pytest.approx((0.1 + 0.8 + 0.3 + 0.2 + 0.1) / 5)


def test_top_decile_of_five_snapshots_is_the_best_one():
    precision, lift = metrics.top_decile(Y, P)

    assert precision == 1.0
    assert lift == pytest.approx(1.0 / (2 / 5))


def test_deciles_rank_from_best_and_keep_ties_in_input_order():
    assert metrics.deciles([0.1, 0.9, 0.5, 0.5]).tolist() == [8, 1, 3, 6]


def test_capacity_metrics_average_over_as_of_dates():
    # Date a: top 1 is the 0.9 positive (precision 1, recall 1/2); date b: top 1 is a
    # negative (precision 0) and b has no positive, so it has no recall.
    precision, recall = metrics.at_capacity(Y, P, ["a", "a", "a", "b", "b"], k=1)

    assert precision == pytest.approx(0.5)
    assert recall == pytest.approx(0.5)


def test_decile_table_gives_the_rate_of_each_occupied_decile():
    table = metrics.decile_table(Y, P)

    assert table["decile"].tolist() == [1, 3, 5, 7, 9]
    assert table["rate"].tolist() == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert table["conversions"].sum() == 2


def test_single_class_labels_give_nan_auc_not_an_error():
    assert math.isnan(metrics.roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(metrics.pr_auc([0, 0], [0.1, 0.2]))


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match=r"same length; got shapes \(2,\) and \(3,\)"):
        metrics.brier([0, 1], [0.1, 0.2, 0.3])


def test_evaluate_returns_every_metric_and_decile_rates():
    result = metrics.evaluate(Y, P, ["a"] * 5, k=2)

    assert result["precision_at_k"] == pytest.approx(0.5)
    assert result["recall_at_k"] == pytest.approx(0.5)
    assert result["decile_1"] == 1.0
    assert result["positives"] == 2.0


def test_rules_baseline_rates_are_smoothed_by_one_pseudo_snapshot():
    # Overall validation rate 3/6 = 0.5.
    model = RulesBaseline().fit([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 0, 1])

    probabilities = model.predict_proba([0, 1, 2, 3])

    assert probabilities.tolist() == pytest.approx([1.5 / 4, 1.5 / 3, 1.5 / 2, 0.5])


def test_rules_level_counts_fired_any_of_rules_of_pqas_only():
    day = pd.Timestamp("2025-05-01", tz="UTC")
    rules = pd.DataFrame(
        {
            "account_id": ["a.io", "b.io", "c.io"],
            "as_of": [day] * 3,
            "pqa": [True, True, False],
            "fired_rules": [
                [{"name": "rule_of_seven"}, {"name": "admin_change"}, {"name": "legal"}],
                [{"name": "rule_of_seven"}, {"name": "admin_change"}],
                [{"name": "admin_change"}],
            ],
        }
    )

    levels = rules_levels(rules, ["admin_change", "legal"])

    assert levels["rule_level"].tolist() == [3, 2, 0]


def test_time_split_keeps_the_latest_dates_out_of_training():
    dates = pd.date_range("2025-03-01", periods=6, freq="MS", tz="UTC")
    frame = pd.DataFrame({"as_of": np.repeat(dates, 3), "account_id": ["a", "b", "c"] * 6})

    split = time_split(frame, test_snapshots=2, validation_snapshots=2, horizon_days=0)

    assert sorted(split.test["as_of"].unique()) == list(dates[4:])
    assert sorted(split.validation["as_of"].unique()) == list(dates[2:4])
    assert sorted(split.train["as_of"].unique()) == list(dates[:2])
    assert split.train["as_of"].max() < split.validation["as_of"].min()
    assert split.validation["as_of"].max() < split.test["as_of"].min()
    assert split.windows()["test"] == {"start": "2025-07-01", "end": "2025-08-01"}


def test_time_split_purges_training_dates_whose_label_window_reaches_the_test_period():
    # Monthly dates Mar..Oct; test Sep and Oct, validation Jul and Aug. With a 90-day
    # horizon, a training date D is kept only when D + 90 days <= Sep 1, i.e. D <= Jun 3.
    dates = pd.date_range("2025-03-01", periods=8, freq="MS", tz="UTC")
    frame = pd.DataFrame({"as_of": np.repeat(dates, 2), "account_id": ["a", "b"] * 8})

    split = time_split(frame, test_snapshots=2, validation_snapshots=2, horizon_days=90)

    kept = sorted(d.strftime("%Y-%m-%d") for d in split.train["as_of"].unique())
    assert kept == ["2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01"]
    assert sorted(split.validation["as_of"].unique()) == list(dates[4:6])


@pytest.mark.parametrize(
    ("horizon_days", "kept"),
    [(30, 2), (61, 1)],
    ids=["both-windows-end-by-the-test-date", "the-later-window-reaches-the-test"],
)
def test_time_split_purge_follows_the_horizon(horizon_days, kept):
    # Training dates Mar 1 and Apr 1 (no validation date); the test starts May 1, which
    # is 61 days after Mar 1 and 30 days after Apr 1.
    dates = pd.date_range("2025-03-01", periods=3, freq="MS", tz="UTC")
    frame = pd.DataFrame({"as_of": dates, "account_id": "a"})

    split = time_split(frame, test_snapshots=1, validation_snapshots=0, horizon_days=horizon_days)

    assert split.train["as_of"].nunique() == kept


def test_time_split_that_purges_every_training_date_says_how_to_fix_it():
    dates = pd.date_range("2025-03-01", periods=3, freq="MS", tz="UTC")
    frame = pd.DataFrame({"as_of": dates, "account_id": "a"})

    with pytest.raises(ValueError, match="no training date ends its 62-day label window"):
        time_split(frame, test_snapshots=1, validation_snapshots=0, horizon_days=62)


def test_time_split_needs_a_training_date():
    dates = pd.date_range("2025-03-01", periods=4, freq="MS", tz="UTC")
    frame = pd.DataFrame({"as_of": dates, "account_id": "a"})

    with pytest.raises(
        ValueError, match=r"cover 4 as-of date\(s\); the time split needs at least 5"
    ):
        time_split(frame, test_snapshots=2, validation_snapshots=2, horizon_days=0)


def test_tier_cutoffs_leave_the_configured_shares_above_them():
    probabilities = np.arange(100) / 100  # 0.00 ... 0.99

    cutoffs = _tier_cutoffs(probabilities, {"A": 0.02, "B": 0.08, "C": 0.30})

    above = {name: int((probabilities >= cut).sum()) for name, cut in cutoffs.items()}
    assert above == {"A": 2, "B": 10, "C": 40}


def test_tier_shares_over_one_are_rejected():
    with pytest.raises(ValueError, match=r"add up to at most 1"):
        _tier_cutoffs(np.arange(10) / 10, {"A": 0.6, "B": 0.6})


@pytest.mark.parametrize(
    ("column", "owner"),
    [
        ("plan_free", "plan"),
        ("days_since_pricing_visit_na", "days_since_pricing_visit"),
        ("value_events_28d", "value_events_28d"),
        ("num__active_users_7d", "active_users_7d"),
    ],
    ids=["one-hot", "missing-indicator", "identity", "column-transformer-prefix"],
)
def test_preprocessed_columns_map_back_to_their_feature(column, owner):
    features = [
        "plan",
        "days_since_pricing_visit",
        "value_events_28d",
        "value_events_28d_extra",
        "active_users_7d",
    ]
    assert owner_of_column(column, features) == owner
