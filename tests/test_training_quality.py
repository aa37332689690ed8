"""Model scores against the simulator's true probabilities, on a hand-checked toy case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.quality import precision_at_flag_count, quality_report


@pytest.fixture
def snapshots():
    # 2025-01-01: the flag selects 2 of 4 accounts; 2025-02-01: 1 of 2.
    return pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2025-01-01"] * 4 + ["2025-02-01"] * 2, utc=True),
            "label": [1, 0, 0, 1, 0, 1],
            "pqa": [True, True, False, False, True, False],
            "truth": [0.5, 0.1, 0.3, 0.2, 0.1, 0.6],
        }
    )


MODEL = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.2])
"""Picks accounts 0 and 2 on the first date (1 conversion) and account 4 on the second (0)."""


def test_precision_at_flag_count_takes_each_dates_own_count(snapshots):
    precision = precision_at_flag_count(
        snapshots["label"].to_numpy(),
        MODEL,
        snapshots["pqa"].to_numpy(),
        snapshots["as_of"].to_numpy(),
    )

    assert precision == pytest.approx(1 / 3)


def test_expected_precision_is_the_mean_truth_of_the_selection(snapshots):
    report = quality_report(snapshots, {"model": MODEL}).set_index("score")

    # model: (0.5 + 0.3 + 0.1) / 3; truth ranks 0 and 2, then 5: (0.5 + 0.3 + 0.6) / 3
    assert report.loc["model", "expected_precision_at_flag_k"] == pytest.approx(0.3)
    assert report.loc["truth", "expected_precision_at_flag_k"] == pytest.approx(1.4 / 3)
    assert report.loc["model", "expected_precision_at_flag_k_vs_truth"] == pytest.approx(
        0.3 / (1.4 / 3)
    )
    # the flag itself: accounts 0, 1 and 4
    assert report.loc["pqa_flag", "precision_at_flag_k"] == pytest.approx(1 / 3)
    assert report.loc["pqa_flag", "expected_precision_at_flag_k"] == pytest.approx(0.7 / 3)
    assert report.loc["truth", "precision_at_flag_k"] == pytest.approx(2 / 3)
