"""Batch scoring: checks made before any work, and the champion requirement."""

from __future__ import annotations

from datetime import date

import pytest

from pqa.config import load_config
from serving.batch import score_batch


def test_unknown_output_extension_fails_before_any_work(tmp_path):
    missing_data = tmp_path / "does-not-exist"

    with pytest.raises(ValueError, match=r"'scores.xlsx' has an unsupported extension"):
        score_batch(missing_data, load_config(), date(2025, 6, 1), out=tmp_path / "scores.xlsx")


def test_without_champion_the_error_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")

    with pytest.raises(ValueError, match=r"no champion.*pqa train DATA_DIR --promote"):
        score_batch(tmp_path, load_config(), date(2025, 6, 1), out=tmp_path / "s.csv")
