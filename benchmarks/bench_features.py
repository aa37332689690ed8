"""Benchmark the feature pipeline: 15 monthly snapshots over simulated worlds of growing size.

For each size a synthetic world of about that many events is simulated once and ingested
once (both kept in the work folder and reused by later runs). Then a fresh process loads
the normalized tables and computes every feature for 15 monthly as-of dates, so that its
peak resident memory is measured alone. Printed per size: events, seconds to load the
tables, seconds of the activity stage (folding events into daily rows), seconds of the
15 snapshots, and peak RSS.

Target: 10 million events in at most 60 s on 2 cores with a peak RSS of at most 4 GiB;
time should grow linearly with events.

    uv run --frozen python benchmarks/bench_features.py [--events 1000000 3000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sized_worlds import events_per_account, simulated_world

TARGET_SECONDS = 60.0
TARGET_PEAK_GIB = 4.0
SNAPSHOTS = 15


def _world(workdir: Path, events: int, per_account: float) -> Path:
    """Simulate and ingest a world of about ``events`` events; return the tables folder."""
    from features.ingest import ingest
    from pqa.config import load_config

    data = simulated_world(workdir, events, per_account)
    tables = workdir / data.name.replace("world-", "tables-")
    if not (tables / "events").is_dir():
        started = time.perf_counter()
        ingest(data, load_config(), tables)
        print(f"  ingested in {time.perf_counter() - started:.0f} s")
    return tables


def _measure(tables_dir: Path) -> dict:
    """Run in a child process: load, fold, snapshot; return the figures."""
    import pandas as pd

    from features.activity import daily_activity
    from features.snapshots import as_of_range, compute_features
    from features.tables import load_tables
    from pqa.config import load_config

    config = load_config()
    started = time.perf_counter()
    tables = load_tables(tables_dir)
    load_seconds = time.perf_counter() - started

    first = tables.events["timestamp"].min().normalize()
    last = tables.events["timestamp"].max().normalize() + pd.Timedelta(days=1)
    dates = as_of_range(first.date(), last.date(), every="month")[-SNAPSHOTS:]

    started = time.perf_counter()
    activity_rows = len(daily_activity(tables, config))
    activity_seconds = time.perf_counter() - started

    started = time.perf_counter()
    frame = compute_features(tables, config, dates)
    total_seconds = time.perf_counter() - started
    return {
        "events": len(tables.events),
        "activity_rows": activity_rows,
        "snapshots": len(dates),
        "rows": len(frame),
        "load_seconds": load_seconds,
        "activity_seconds": activity_seconds,
        "snapshot_seconds": total_seconds - activity_seconds,
        "features_seconds": total_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="one small size (100k events)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pqa-bench-features"
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return 0

    sizes = [100_000] if args.quick else args.events
    args.workdir.mkdir(parents=True, exist_ok=True)
    per_account = events_per_account(args.workdir)
    rows = []
    for size in sizes:
        print(f"{size:,} events:", flush=True)
        tables = _world(args.workdir, size, per_account)
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(tables)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))

    print(
        f"\n{'events':>12} {'snapshots':>9} {'rows':>9} {'load s':>7} {'activity s':>10} "
        f"{'snapshots s':>11} {'features s':>10} {'peak RSS MB':>11}"
    )
    for row in rows:
        print(
            f"{row['events']:>12,} {row['snapshots']:>9} {row['rows']:>9,} "
            f"{row['load_seconds']:>7.1f} {row['activity_seconds']:>10.1f} "
            f"{row['snapshot_seconds']:>11.1f} {row['features_seconds']:>10.1f} "
            f"{row['peak_rss_mb']:>11,.0f}"
        )
    largest = max(rows, key=lambda row: row["events"])
    scaled = largest["features_seconds"] * 10_000_000 / max(largest["events"], 1)
    peak_gib = max(row["peak_rss_mb"] for row in rows) / 1024
    verdict = "meets" if scaled <= TARGET_SECONDS and peak_gib <= TARGET_PEAK_GIB else "MISSES"
    print(
        f"\nLargest run scaled to 10M events: {scaled:.0f} s, peak RSS {peak_gib:.1f} GiB: "
        f"{verdict} the target of {TARGET_SECONDS:.0f} s and {TARGET_PEAK_GIB:.0f} GiB."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
