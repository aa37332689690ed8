"""The numpy fast path reproduces the model exactly, or is not used at all."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pqa.config import load_config
from serving.fastpath import CompiledModel, compile_model
from serving.scoring import score_frame
from tests.test_serving_scoring import feature_rows, simple_preprocessor
from training.model import PropensityModel


def labels(frame):
    return (frame["active_users_28d"] + 5 * frame["has_decision_maker"] > 14).to_numpy()


@pytest.fixture(scope="module", params=["lightgbm", "logistic"])
def model(request):
    train, valid = feature_rows(400, seed=11), feature_rows(300, seed=12)
    train.loc[train.index[:40], "stickiness"] = math.nan
    fitted = PropensityModel(model_type=request.param, lightgbm_params={"n_estimators": 30})
    return fitted.fit(train, labels(train), valid, labels(valid))


def unseen_rows():
    frame = feature_rows(25, seed=13)
    frame.loc[frame.index[:5], "plan"] = "enterprise-never-seen"
    frame.loc[frame.index[5:10], "industry"] = None
    frame.loc[frame.index[10:15], ["stickiness", "employees"]] = math.nan
    frame.loc[frame.index[15], "active_users_wow_growth"] = -0.75
    return frame


def test_compiled_model_matches_contributions_and_probabilities(model):
    frame = unseen_rows()

    compiled = compile_model(model)

    assert isinstance(compiled, CompiledModel)
    np.testing.assert_allclose(
        compiled.contributions(frame).to_numpy(),
        model.contributions(frame).to_numpy(),
        rtol=1e-9,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        compiled.predict_proba(frame), model.predict_proba(frame), rtol=1e-9, atol=1e-12
    )


def test_scores_are_the_same_with_or_without_the_fast_path(model):
    frame, cfg = unseen_rows(), load_config()

    fast = score_frame(compile_model(model), frame, cfg, "v")
    slow = score_frame(model, frame, cfg, "v")

    np.testing.assert_allclose(fast["propensity"], slow["propensity"], rtol=1e-9)
    assert fast["tier"].tolist() == slow["tier"].tolist()
    assert [[r["feature"] for r in rs] for rs in fast["reasons"]] == [
        [r["feature"] for r in rs] for rs in slow["reasons"]
    ]


def test_unsupported_preprocessor_keeps_the_model():
    train, valid = feature_rows(200, seed=1), feature_rows(100, seed=2)
    model = PropensityModel(model_type="logistic", preprocessor=simple_preprocessor())
    model.fit(train, labels(train), valid, labels(valid))

    assert compile_model(model) is model
