"""Quality bar: LightGBM against the simulator's true probabilities, out of time.

Simulates a world (or reuses one), builds the training snapshots, fits the rules
baseline, logistic regression and LightGBM exactly as ``pqa train`` does (without
MLflow), and compares them with the truth on the SAME test snapshots. The bar:

- LightGBM ROC-AUC >= 95% of the truth's ROC-AUC;
- at k = number of accounts the PQA flag selects (per test date), LightGBM precision is
  above the flag's precision and >= 90% of the truth's precision at k.

Usage: uv run --frozen python benchmarks/bench_quality.py [--accounts 5000] [--months 15]
       [--seed 0] [--config FILE] [--workdir DIR]

``--config`` simulates and models a product with another vocabulary (for example
``config/examples/chat_product.yaml``), so the bar is checked beyond the demo product.

Precision on realized conversions is noisy: with a few hundred accounts selected, a
handful of conversions either way moves it by several points. The report also gives
the expected precision (the mean true probability of the accounts selected), which
shows the gap to the truth without that noise; the bar itself stays on realized
conversions.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from pqa.config import load_config
from pqa.logs import configure_logging


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", type=Path, default=None, help="Product config (YAML).")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="Folder for the world (reused when present); default a temp dir.",
    )
    args = parser.parse_args()
    configure_logging("WARNING")

    from pqa.simulator import simulate
    from training.dataset import LABEL, build_dataset, resolve_target, snapshot_dates, time_split
    from training.quality import quality_report, read_truth, with_truth
    from training.train import fit_models, load_training_tables

    cfg = load_config(args.config)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pqa-quality-"))
    product = args.config.stem if args.config else "default"
    data_dir = workdir / f"world-{product}-{args.accounts}-{args.months}-{args.seed}"
    figures: dict[str, float] = {}

    started = time.perf_counter()
    if not (data_dir / "simulation.json").exists():
        simulate(data_dir, accounts=args.accounts, months=args.months, seed=args.seed, config=cfg)
    figures["simulate_s"] = time.perf_counter() - started

    started = time.perf_counter()
    tables = load_training_tables(data_dir, cfg)
    figures["ingest_s"] = time.perf_counter() - started

    started = time.perf_counter()
    target = resolve_target(tables, cfg, "conversion")
    frame = build_dataset(tables, cfg, target, snapshot_dates(tables, cfg))
    split = time_split(
        frame,
        cfg.training.test_snapshots,
        cfg.training.validation_snapshots,
        cfg.conversion.horizon_days,
    )
    figures["snapshots_s"] = time.perf_counter() - started

    started = time.perf_counter()
    fitted = fit_models(split, cfg)
    figures["fit_s"] = time.perf_counter() - started

    truth = read_truth(data_dir)
    test = split.test.assign(**{f"score_{k}": v for k, v in fitted.test_scores.items()})
    joined = with_truth(test, truth)
    report = quality_report(
        joined, {name: joined[f"score_{name}"].to_numpy() for name in fitted.test_scores}
    )

    print(
        f"World: {product} product, {args.accounts} companies, {args.months} months, "
        f"seed {args.seed} ({data_dir})"
    )
    print(
        f"Snapshots: train {len(split.train):,} ({int(split.train[LABEL].sum())} positive), "
        f"validation {len(split.validation):,} ({int(split.validation[LABEL].sum())}), "
        f"test {len(split.test):,} ({int(split.test[LABEL].sum())}); "
        f"test rows with a truth: {len(joined):,} ({int(joined[LABEL].sum())} positive)"
    )
    print(
        f"Test dates: {sorted(d.date().isoformat() for d in split.test['as_of'].unique())}; "
        f"PQA-flagged test snapshots: {int(joined['pqa'].sum())}"
    )
    print("Timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
    print()
    print("Out-of-time test metrics (all test snapshots):")
    print(
        pd.DataFrame(fitted.test_metrics)
        .T[["roc_auc", "pr_auc", "brier", "ece", "precision_at_k", "lift_top_decile"]]
        .round(4)
        .to_string()
    )
    print()
    print("Against the truth (test snapshots with a truth):")
    shown = report.rename(columns=lambda c: c.replace("expected_precision", "exp_precision"))
    print(shown.round(4).to_string(index=False))

    rows = report.set_index("score")
    lgbm, flag, best = rows.loc["lightgbm"], rows.loc["pqa_flag"], rows.loc["truth"]
    checks = {
        "LightGBM ROC-AUC >= 95% of truth": lgbm["roc_auc"] >= 0.95 * best["roc_auc"],
        "LightGBM precision@flag-k > flag precision": lgbm["precision_at_flag_k"]
        > flag["precision_at_flag_k"],
        "LightGBM precision@flag-k >= 90% of truth": lgbm["precision_at_flag_k"]
        >= 0.90 * best["precision_at_flag_k"],
    }
    print()
    for what, ok in checks.items():
        print(f"[{'PASS' if ok else 'MISS'}] {what}")
    logging.shutdown()
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
