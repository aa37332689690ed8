"""Benchmark the simulator: seconds, events per second, peak memory and the world's
base rates, plus how well the true probabilities rank the realized conversions.

    uv run --frozen python benchmarks/bench_simulate.py [--accounts 5000] [--months 15]

Target: 5,000 companies x 15 months in under 30 s on 2 cores, with flat memory as the
number of companies grows (the events are written chunk by chunk).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pqa.config import load_config
from pqa.simulator import simulate

TARGET_SECONDS = 30.0
TARGET_ACCOUNTS = 5000


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest worker, in MB."""
    scale = 1024 if sys.platform != "darwin" else 1024 * 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / scale
    return own, workers


def realized_labels(world: Path, min_amount: float, horizon_days: int) -> pd.DataFrame:
    """Join the truth with the conversions the CRM export shows within the horizon."""
    truth = pd.read_csv(world / "truth" / "conversion_probability.csv", parse_dates=["as_of"])
    accounts = pd.read_csv(world / "crm" / "accounts.csv", dtype=str)
    accounts["domain"] = (
        accounts["Website"]
        .str.replace(r"^https?://", "", regex=True)
        .str.replace(r"^www\.", "", regex=True)
        .str.rstrip("/")
    )
    opportunities = pd.read_csv(world / "crm" / "opportunities.csv", parse_dates=["CloseDate"])
    won = opportunities[opportunities["IsWon"] & (opportunities["Amount"] >= min_amount)]
    won = won.merge(accounts[["Id", "domain"]], left_on="AccountId", right_on="Id")
    close = won.groupby("domain")["CloseDate"].min()
    truth["close"] = truth["account_id"].map(close)
    end = truth["as_of"] + pd.Timedelta(days=horizon_days)
    truth["converted"] = (truth["close"] >= truth["as_of"]) & (truth["close"] < end)
    return truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=TARGET_ACCOUNTS)
    parser.add_argument("--months", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="Keep the world here.")
    args = parser.parse_args(argv)

    config = load_config()
    with tempfile.TemporaryDirectory(prefix="bench-simulate-") as scratch:
        world = args.out or Path(scratch) / "world"
        began = time.perf_counter()
        summary = simulate(
            world,
            accounts=args.accounts,
            months=args.months,
            seed=args.seed,
            start=date(2025, 1, 1),
            faults=args.faults,
            config=config,
            workers=args.workers,
        )
        seconds = time.perf_counter() - began
        own, workers = peak_rss_mb()
        counts = summary.to_dict()
        print(f"companies              {summary.companies:,} x {args.months} months")
        print(f"seconds                {seconds:.1f}")
        print(f"events                 {summary.events:,} ({summary.lines:,} lines)")
        print(f"events per second      {summary.events / seconds:,.0f}")
        print(f"peak RSS (MB)          main {own:.0f}, largest worker {workers:.0f}")
        print(f"users / workspaces     {summary.users:,} / {summary.workspaces:,}")
        print(
            f"conversions            {summary.conversions:,} "
            f"({summary.conversions / summary.companies:.1%} of companies)"
        )
        print(f"faults                 {counts['faults']}")

        labels = realized_labels(
            world, config.conversion.min_amount, config.conversion.horizon_days
        )
        complete = labels[labels["horizon_complete"]]
        by_month = complete.groupby("as_of")["converted"].agg(["size", "sum"])
        print(f"truth rows             {len(labels):,} (horizon complete: {len(complete):,})")
        print(
            f"mean truth / realized  {complete['probability'].mean():.4f} / "
            f"{complete['converted'].mean():.4f}"
        )
        print(f"positives per as-of    {by_month['sum'].astype(int).tolist()}")
        test = complete[complete["as_of"].isin(sorted(complete["as_of"].unique())[-2:])]
        if test["converted"].nunique() == 2:
            auc = roc_auc_score(test["converted"], test["probability"])
            print(
                f"truth ROC-AUC (last 2 complete as-of dates, {int(test['converted'].sum())} "
                f"positives) {auc:.3f}"
            )
        deciles = pd.qcut(complete["probability"].rank(method="first"), 10, labels=False)
        rates = complete.groupby(deciles)["converted"].mean()
        print(f"realized rate by truth decile {np.round(rates.to_numpy(), 3).tolist()}")

        if args.accounts == TARGET_ACCOUNTS and args.months == 15:
            verdict = "OK" if seconds < TARGET_SECONDS else "SLOW"
            print(f"target < {TARGET_SECONDS:.0f} s for {TARGET_ACCOUNTS:,} companies: {verdict}")


if __name__ == "__main__":
    main()
