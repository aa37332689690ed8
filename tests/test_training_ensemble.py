"""Seed bags: several LightGBM fits predicting as their average."""

from __future__ import annotations

import numpy as np
import pytest

from training.ensemble import AveragedBooster


class FixedBooster:
    """Stands in for lightgbm.Booster: answers with fixed values, records the call."""

    def __init__(self, raw: list[float], importance: list[float]) -> None:
        self.raw = np.asarray(raw)
        self.importance = np.asarray(importance)
        self.calls: list[dict] = []

    def predict(self, data, **kwargs):
        self.calls.append(kwargs)
        return self.raw

    def feature_importance(self, importance_type, iteration):
        self.calls.append({"importance_type": importance_type, "iteration": iteration})
        return self.importance


def test_averaged_booster_predicts_the_mean_at_each_members_own_iteration():
    first = FixedBooster([1.0, -2.0], [10.0, 0.0])
    second = FixedBooster([3.0, 0.0], [20.0, 6.0])
    bag = AveragedBooster([first, second], iterations=[40, 70])

    raw = bag.predict(np.zeros((2, 3)), raw_score=True, num_threads=1)
    importance = bag.feature_importance("gain")

    np.testing.assert_allclose(raw, [2.0, -1.0])
    np.testing.assert_allclose(importance, [15.0, 3.0])
    assert first.calls[0] == {"num_iteration": 40, "raw_score": True, "num_threads": 1}
    assert second.calls[0] == {"num_iteration": 70, "raw_score": True, "num_threads": 1}
    assert second.calls[1] == {"importance_type": "gain", "iteration": 70}


def test_averaged_booster_refuses_a_shared_iteration_count():
    bag = AveragedBooster([FixedBooster([0.0], [0.0])], iterations=[5])

    with pytest.raises(TypeError, match="own best iteration"):
        bag.predict(np.zeros((1, 1)), num_iteration=3)


def test_averaged_booster_needs_one_iteration_count_per_member():
    with pytest.raises(ValueError, match="one iteration count per booster"):
        AveragedBooster([FixedBooster([0.0], [0.0])], iterations=[5, 6])


@pytest.mark.parametrize("bags", [0, 2.5, True], ids=["zero", "fraction", "bool"])
def test_propensity_model_refuses_a_bad_number_of_bags(bags):
    import pandas as pd

    from training.model import PropensityModel

    with pytest.raises(ValueError, match="bags must be a whole number of at least 1"):
        PropensityModel(bags=bags).fit(pd.DataFrame(), [0], pd.DataFrame(), [1])
