"""The model registry: registered versions and the ``champion`` alias that serving uses.

A version becomes the champion only when the out-of-time test PR-AUC of its training
beats the current champion's (or when forced). A version whose training run did not
finish is never promoted, forced or not.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from pqa.config import Config

logger = logging.getLogger(__name__)

CHAMPION_ALIAS = "champion"
GATE_METRIC = "test_pr_auc"
"""Version tag (and run metric) that holds the out-of-time test PR-AUC of a version."""


@dataclass(frozen=True)
class PromotionResult:
    """What a promotion did.

    Attributes
    ----------
    promoted : bool
        The alias moved to ``version``.
    unchanged_ok : bool
        Nothing moved and nothing is wrong (``version`` already is the champion).
    message : str
        One sentence for the user.
    version : int
        The candidate version.
    champion_version : int or None
        The champion after the promotion.
    """

    promoted: bool
    unchanged_ok: bool
    message: str
    version: int
    champion_version: int | None


def champion_uri(cfg: Config) -> str:
    """Return the URI of the champion, ``models:/<registered model>@champion``."""
    return f"models:/{cfg.training.registered_model}@{CHAMPION_ALIAS}"


def champion_version(cfg: Config) -> int | None:
    """Return the version number the champion alias points to, or None if there is none."""
    from mlflow.exceptions import MlflowException

    from training.tracking import client

    try:
        version = client().get_model_version_by_alias(cfg.training.registered_model, CHAMPION_ALIAS)
    except MlflowException:
        return None
    return int(version.version)


def load_champion(cfg: Config):
    """Load the champion :class:`~training.model.PropensityModel` from the registry.

    Raises
    ------
    ValueError
        When no version carries the champion alias yet.
    """
    import mlflow.sklearn

    if champion_version(cfg) is None:
        raise ValueError(
            f"registered model '{cfg.training.registered_model}' has no champion yet; "
            "run 'pqa train DATA_DIR --promote' (or 'pqa promote') first."
        )
    return mlflow.sklearn.load_model(champion_uri(cfg))


def promote(cfg: Config, version: int | None = None, force: bool = False) -> PromotionResult:
    """Move the champion alias to ``version`` if it beats the champion on test PR-AUC.

    Parameters
    ----------
    cfg : Config
        Names the registered model (``cfg.training.registered_model``).
    version : int or None, default=None
        Candidate version; None means the latest registered version.
    force : bool, default=False
        Promote even when the candidate is not better (never when its run failed).

    Returns
    -------
    PromotionResult

    Raises
    ------
    ValueError
        When the registered model or the requested version does not exist.
    """
    from training.tracking import client as make_client

    client = make_client()
    name = cfg.training.registered_model
    versions = _versions(client, name)
    if not versions:
        raise ValueError(
            f"registered model '{name}' has no versions; train one with 'pqa train DATA_DIR'."
        )
    if version is None:
        version = max(versions)
    if version not in versions:
        raise ValueError(
            f"version {version} of registered model '{name}' does not exist; "
            f"existing versions: {', '.join(map(str, sorted(versions)))}."
        )
    candidate = versions[version]
    current = champion_version(cfg)

    status = _run_status(client, candidate.run_id)
    if status != "FINISHED":
        return PromotionResult(
            False,
            False,
            f"Version {version} was not promoted: its training run {candidate.run_id} "
            f"ended with status {status}, and an unfinished run is never promoted.",
            version,
            current,
        )
    if current == version:
        return PromotionResult(
            False, True, f"Version {version} already is the champion.", version, current
        )

    score = _gate_metric(client, candidate)
    best = None if current is None else _gate_metric(client, versions[current])
    if not force and score is None:
        return PromotionResult(
            False,
            False,
            f"Version {version} was not promoted: it has no '{GATE_METRIC}' to compare "
            "with; use --force to promote it anyway.",
            version,
            current,
        )
    if not force and current is not None and best is not None and not score > best:
        return PromotionResult(
            False,
            False,
            f"Version {version} was not promoted: its test PR-AUC {score:.4f} does not beat "
            f"champion version {current} ({best:.4f}). Use --force to promote it anyway.",
            version,
            current,
        )

    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    reason = _describe_gain(score, best, current, force)
    logger.info("Champion of %s is now version %d (%s)", name, version, reason)
    return PromotionResult(
        True, False, f"Version {version} is now the champion ({reason}).", version, version
    )


def _versions(client: Any, name: str) -> dict[int, Any]:
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='{name}'")
    except MlflowException:
        return {}
    return {int(v.version): v for v in found}


def _run_status(client: Any, run_id: str | None) -> str:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return "UNKNOWN"
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return "MISSING"
    if run.info.status != "FINISHED":
        return run.info.status
    # A model version belongs to a child run; its parent training must have finished too.
    parent = run.data.tags.get("mlflow.parentRunId")
    return _run_status(client, parent) if parent else "FINISHED"


def _gate_metric(client: Any, version: Any) -> float | None:
    from mlflow.exceptions import MlflowException

    value = (version.tags or {}).get(GATE_METRIC)
    if value is None and version.run_id:
        try:
            value = client.get_run(version.run_id).data.metrics.get(GATE_METRIC)
        except MlflowException:
            value = None
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _describe_gain(
    score: float | None, best: float | None, current: int | None, force: bool
) -> str:
    shown = "n/a" if score is None else f"{score:.4f}"
    if current is None:
        return f"first champion; test PR-AUC {shown}"
    previous = "n/a" if best is None else f"{best:.4f}"
    if force:
        return f"forced; test PR-AUC {shown} vs {previous} of version {current}"
    return f"test PR-AUC {shown} beats {previous} of version {current}"
