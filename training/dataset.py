"""Training snapshots: point-in-time features with labels, and the out-of-time split.

Snapshots are taken at every ``cfg.snapshots.every`` period start from the first event
plus ``min_history_days`` up to the last as-of date whose whole horizon is observed
(as-of + horizon <= last event day). The split is by as-of date, never random: the last
``test_snapshots`` dates are the test set, the ``validation_snapshots`` dates before them
the validation set, the rest the training set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from features.tables import Tables
from pqa.config import Config

logger = logging.getLogger(__name__)

TARGETS = ("conversion", "pqa")
LABEL = "label"
RULE_LEVEL = "rule_level"
"""Rules-baseline score: 0 for a non-PQA, else 1 + number of fired ``any_of`` rules."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Split:
    """Snapshots divided by as-of date into train, validation and test."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def windows(self) -> dict[str, dict[str, str]]:
        """First and last as-of date (YYYY-MM-DD) of each part."""
        return {
            name: {
                "start": frame["as_of"].min().strftime("%Y-%m-%d"),
                "end": frame["as_of"].max().strftime("%Y-%m-%d"),
            }
            for name, frame in (
                ("train", self.train),
                ("validation", self.validation),
                ("test", self.test),
            )
        }


def has_conversions(tables: Tables, cfg: Config) -> bool:
    """Whether the CRM holds a won opportunity that counts as a conversion."""
    opportunities = tables.opportunities
    if opportunities.empty:
        return False
    won = opportunities["is_won"].fillna(False).astype(bool)
    large = opportunities["amount"].fillna(0) >= cfg.conversion.min_amount
    mask = won & large
    if cfg.conversion.opportunity_types:
        mask &= opportunities["type"].isin(cfg.conversion.opportunity_types)
    return bool(mask.any())


def resolve_target(tables: Tables, cfg: Config, target: str = "auto") -> str:
    """Return the target to train: ``conversion`` or ``pqa``.

    ``auto`` (also via ``cfg.training.target``) means conversion when the CRM has any
    won opportunity of at least ``cfg.conversion.min_amount``, else future PQA.
    """
    if target not in (*TARGETS, "auto"):
        raise ValueError(f"target must be conversion, pqa or auto; got {target!r}.")
    if target == "auto" and cfg.training.target != "auto":
        target = cfg.training.target
    if target == "auto":
        target = "conversion" if has_conversions(tables, cfg) else "pqa"
        logger.info("Target: %s (auto)", target)
    elif target == "conversion" and not has_conversions(tables, cfg):
        raise ValueError(
            "target 'conversion' needs won opportunities of at least "
            f"{cfg.conversion.min_amount:,.0f} in the CRM export, and there are none; "
            "use --target pqa or add crm/opportunities.csv to the data directory."
        )
    return target


def snapshot_dates(tables: Tables, cfg: Config) -> list[pd.Timestamp]:
    """As-of dates with enough history before them and a fully observed horizon after."""
    from features.snapshots import as_of_range

    if tables.events.empty:
        raise ValueError("the events table is empty; there is nothing to train on.")
    timestamps = tables.events["timestamp"]
    first_day = timestamps.min().normalize()
    last_day = timestamps.max().normalize()
    start = first_day + pd.Timedelta(days=cfg.snapshots.min_history_days)
    end = last_day - pd.Timedelta(days=cfg.conversion.horizon_days)
    dates = [] if end < start else as_of_range(start.date(), end.date(), cfg.snapshots.every)
    needed = cfg.training.test_snapshots + cfg.training.validation_snapshots + 1
    if len(dates) < needed:
        raise ValueError(
            f"the history from {first_day.date()} to {last_day.date()} gives {len(dates)} "
            f"{cfg.snapshots.every}ly snapshot date(s) with {cfg.snapshots.min_history_days} "
            f"days of history and a {cfg.conversion.horizon_days}-day horizon; training "
            f"needs {needed} (test_snapshots + validation_snapshots + 1). Use a longer "
            "history, or lower training.test_snapshots / validation_snapshots."
        )
    return [pd.Timestamp(d) for d in dates]


def build_dataset(
    tables: Tables,
    cfg: Config,
    target: str,
    dates: Sequence[pd.Timestamp],
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Features, PQA flag, rules level and label for every trainable snapshot.

    For the conversion target, snapshots of accounts that converted before the as-of
    date are dropped; for the pqa target, snapshots of accounts already a PQA are dropped
    (the question is which accounts will *become* one).

    Returns
    -------
    DataFrame
        The feature frame plus ``pqa`` (bool), ``rule_level`` (int) and ``label`` (int),
        sorted by (as_of, account_id).
    """
    from features.pqa_rules import evaluate_rules
    from features.snapshots import compute_features

    frame = compute_features(tables, cfg, list(dates), progress=progress)
    rules = evaluate_rules(frame, cfg.pqa_rules)
    frame = frame.merge(
        rules_levels(rules, [r.name for r in cfg.pqa_rules.any_of]),
        on=["account_id", "as_of"],
        how="left",
        validate="one_to_one",
    )
    frame["pqa"] = frame["pqa"].fillna(False).astype(bool)
    frame[RULE_LEVEL] = frame[RULE_LEVEL].fillna(0).astype(int)
    labels = _labels(tables, cfg, target, dates)
    frame = frame.merge(labels, on=["account_id", "as_of"], how="left", validate="one_to_one")
    frame["exclude"] = frame["exclude"].fillna(False).astype(bool)
    frame[LABEL] = frame[LABEL].fillna(False).astype(int)
    dropped = int(frame["exclude"].sum())
    frame = frame.loc[~frame["exclude"]].drop(columns=["exclude"])
    logger.info(
        "%d snapshots over %d dates (%d dropped as already %s), %d positive",
        len(frame),
        frame["as_of"].nunique(),
        dropped,
        "converted" if target == "conversion" else "PQA",
        int(frame[LABEL].sum()),
    )
    return frame.sort_values(["as_of", "account_id"], kind="stable").reset_index(drop=True)


def rules_levels(rules: pd.DataFrame, any_of: list[str]) -> pd.DataFrame:
    """Turn ``evaluate_rules`` output into the PQA flag and the rules-baseline level.

    Parameters
    ----------
    rules : DataFrame
        Columns account_id, as_of, pqa, fired_rules (list of dicts with a ``name``).
    any_of : list of str
        Names of the config's ``any_of`` rules.

    Returns
    -------
    DataFrame
        account_id, as_of, pqa, rule_level (0 for a non-PQA, else 1 + fired any_of rules).
    """
    names = set(any_of)

    def fired_any(fired) -> int:
        if fired is None or (isinstance(fired, float) and pd.isna(fired)):
            return 0
        return sum(1 for rule in fired if _rule_name(rule) in names)

    pqa = rules["pqa"].fillna(False).astype(bool)
    counts = rules["fired_rules"].map(fired_any).astype(int)
    return pd.DataFrame(
        {
            "account_id": rules["account_id"],
            "as_of": rules["as_of"],
            "pqa": pqa,
            RULE_LEVEL: (pqa.astype(int) * (1 + counts)).astype(int),
        }
    )


def _rule_name(rule) -> str | None:
    if isinstance(rule, dict):
        return rule.get("name")
    return str(rule)


def _labels(
    tables: Tables, cfg: Config, target: str, dates: Sequence[pd.Timestamp]
) -> pd.DataFrame:
    if target == "conversion":
        from features.labels import conversion_labels

        labels = conversion_labels(tables, cfg, list(dates))
        return pd.DataFrame(
            {
                "account_id": labels["account_id"],
                "as_of": labels["as_of"],
                LABEL: labels["converted"].fillna(False).astype(bool),
                "exclude": labels["converted_before"].fillna(False).astype(bool),
            }
        )
    from features.labels import future_pqa_labels

    labels = future_pqa_labels(tables, cfg, list(dates))
    return pd.DataFrame(
        {
            "account_id": labels["account_id"],
            "as_of": labels["as_of"],
            LABEL: labels["becomes_pqa_within_horizon"].fillna(False).astype(bool),
            "exclude": labels["is_pqa"].fillna(False).astype(bool),
        }
    )


def time_split(
    frame: pd.DataFrame,
    test_snapshots: int,
    validation_snapshots: int,
    horizon_days: int,
) -> Split:
    """Split snapshots by as-of date: the latest dates test, the ones before validation.

    A training snapshot's label looks ``horizon_days`` past its as-of date. Training
    snapshots whose label window reaches the first test date are left out (purged), so
    that no outcome of the test period is ever learned from; the validation snapshots,
    which only set the number of trees, the calibration and the tier cut-offs, are kept.

    Parameters
    ----------
    frame : DataFrame
        Snapshots with an ``as_of`` column.
    test_snapshots, validation_snapshots : int
        Number of as-of dates in the test and validation sets.
    horizon_days : int
        Label horizon in days (0 for labels that look no further than their as-of
        date, which purges nothing).

    Returns
    -------
    Split

    Raises
    ------
    ValueError
        When fewer than ``test_snapshots + validation_snapshots + 1`` dates exist, or
        when the purge leaves no training date.
    """
    dates = sorted(frame["as_of"].unique())
    needed = test_snapshots + validation_snapshots + 1
    if len(dates) < needed:
        raise ValueError(
            f"the snapshots cover {len(dates)} as-of date(s); the time split needs at least "
            f"{needed} ({test_snapshots} test + {validation_snapshots} validation + 1 "
            "training). Use a longer history or fewer test/validation snapshots."
        )
    test_dates = dates[-test_snapshots:]
    validation_dates = dates[-(test_snapshots + validation_snapshots) : -test_snapshots]
    in_test = frame["as_of"].isin(test_dates)
    in_validation = frame["as_of"].isin(validation_dates)
    in_train = ~in_test & ~in_validation
    if horizon_days > 0:
        reaches_test = frame["as_of"] + pd.Timedelta(days=horizon_days) > test_dates[0]
        purged = in_train & reaches_test
        if purged.any():
            logger.info(
                "Left %d training snapshots on %d date(s) out: their %d-day label window "
                "reaches the test period",
                int(purged.sum()),
                frame.loc[purged, "as_of"].nunique(),
                horizon_days,
            )
        in_train &= ~reaches_test
        if not in_train.any():
            raise ValueError(
                f"no training date ends its {horizon_days}-day label window before the "
                f"first test date {pd.Timestamp(test_dates[0]).date()}; use a longer "
                "history, a shorter horizon or more validation snapshots."
            )
    return Split(
        train=frame.loc[in_train].reset_index(drop=True),
        validation=frame.loc[in_validation].reset_index(drop=True),
        test=frame.loc[in_test].reset_index(drop=True),
    )
