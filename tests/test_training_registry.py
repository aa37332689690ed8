"""The champion gate: a version moves the alias only when it is better, or forced, and a
version whose run failed never does."""

from __future__ import annotations

import pytest

from pqa.config import parse_config

pytest.importorskip("mlflow")


@pytest.fixture
def cfg():
    return parse_config({"training": {"registered_model": "gate-test", "experiment": "gate"}})


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def register(cfg, pr_auc: float | None, fail: bool = False) -> int:
    """Log a tiny model in a run, register it, tag its PR-AUC; return the version."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.dummy import DummyClassifier

    from training.tracking import client, ensure_experiment

    experiment_id = ensure_experiment(cfg.training.experiment)
    model = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
    run = mlflow.start_run(experiment_id=experiment_id)
    info = mlflow.sklearn.log_model(
        model,
        name="model",
        serialization_format="cloudpickle",
        registered_model_name=cfg.training.registered_model,
        pip_requirements=["scikit-learn"],
    )
    mlflow.end_run(status="FAILED" if fail else "FINISHED")
    version = int(info.registered_model_version)
    if pr_auc is not None:
        client().set_model_version_tag(
            cfg.training.registered_model, str(version), "test_pr_auc", str(pr_auc)
        )
    assert run.info.run_id
    return version


def test_champion_uri_names_the_registered_model_alias(cfg):
    from training.registry import champion_uri

    assert champion_uri(cfg) == "models:/gate-test@champion"


def test_first_version_becomes_champion(cfg, store):
    from training.registry import champion_version, promote

    version = register(cfg, 0.30)

    result = promote(cfg)

    assert (result.promoted, result.version, result.champion_version) == (True, 1, 1)
    assert champion_version(cfg) == version


def test_worse_version_does_not_move_the_champion(cfg, store):
    from training.registry import champion_version, promote

    register(cfg, 0.30)
    promote(cfg)
    register(cfg, 0.20)

    result = promote(cfg)

    assert not result.promoted
    assert not result.unchanged_ok
    assert "does not beat" in result.message
    assert champion_version(cfg) == 1


def test_equal_version_does_not_move_the_champion(cfg, store):
    from training.registry import champion_version, promote

    register(cfg, 0.30)
    promote(cfg)
    register(cfg, 0.30)

    assert not promote(cfg, version=2).promoted
    assert champion_version(cfg) == 1


def test_better_version_moves_the_champion(cfg, store):
    from training.registry import champion_version, promote

    register(cfg, 0.30)
    promote(cfg)
    register(cfg, 0.35)

    result = promote(cfg, version=2)

    assert result.promoted
    assert champion_version(cfg) == 2


def test_force_promotes_a_worse_version(cfg, store):
    from training.registry import champion_version, promote

    register(cfg, 0.30)
    promote(cfg)
    register(cfg, 0.10)

    result = promote(cfg, version=2, force=True)

    assert result.promoted
    assert "forced" in result.message
    assert champion_version(cfg) == 2


def test_failed_run_never_moves_the_champion_even_forced(cfg, store):
    from training.registry import champion_version, promote

    register(cfg, 0.30)
    promote(cfg)
    register(cfg, 0.90, fail=True)

    result = promote(cfg, version=2, force=True)

    assert not result.promoted
    assert "FAILED" in result.message
    assert champion_version(cfg) == 1


def test_promoting_the_champion_again_is_unchanged_ok(cfg, store):
    from training.registry import promote

    register(cfg, 0.30)
    promote(cfg)

    result = promote(cfg, version=1)

    assert (result.promoted, result.unchanged_ok) == (False, True)


def test_missing_version_is_an_error_naming_it(cfg, store):
    from training.registry import promote

    register(cfg, 0.30)

    with pytest.raises(ValueError, match=r"version 7 of registered model 'gate-test'"):
        promote(cfg, version=7)


def test_promote_without_any_version_says_to_train(cfg, store):
    from training.registry import promote

    with pytest.raises(ValueError, match=r"has no versions; train one"):
        promote(cfg)


def test_load_champion_without_champion_says_how_to_get_one(cfg, store):
    from training.registry import load_champion

    register(cfg, 0.30)

    with pytest.raises(ValueError, match=r"no champion yet; run 'pqa train DATA_DIR --promote'"):
        load_champion(cfg)


def test_artifacts_live_beside_the_sqlite_database(cfg, store):
    from training.tracking import client, ensure_experiment

    experiment_id = ensure_experiment("beside")

    location = client().get_experiment(experiment_id).artifact_location
    assert location == (store / "artifacts" / "beside").resolve().as_uri()
