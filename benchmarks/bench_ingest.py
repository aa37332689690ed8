"""Benchmark ``ingest`` on simulated gzipped JSON Lines: events per second and peak memory.

For each size, a synthetic world of about that many events is simulated once (kept in
the work folder and reused by later runs), then ingested in a fresh process so that its
peak resident memory is measured alone. The cache hit of ``ensure_ingested`` on the
unchanged input is timed too.

Target: at least 200,000 events/s on 2 cores, with peak memory that does not grow in
proportion to the input.

    uv run --frozen python benchmarks/bench_ingest.py [--events 1000000 10000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sized_worlds import events_per_account, simulated_world

TARGET_EVENTS_PER_SECOND = 200_000


def _measure(data: Path, out: Path) -> dict:
    """Run in a child process: ingest, then the cache hit; print figures as JSON."""
    from features.ingest import ensure_ingested, ingest
    from pqa.config import load_config

    config = load_config()
    started = time.perf_counter()
    report = ingest(data, config, out)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ensure_ingested(data, config)  # fills the cache
    started = time.perf_counter()
    ensure_ingested(data, config)
    cache_seconds = time.perf_counter() - started
    shutil.rmtree(data / ".pqa-cache", ignore_errors=True)
    return {
        "records": report.event_records,
        "seconds": seconds,
        "events_per_second": report.event_records / seconds,
        "peak_rss_mb": peak_mb,
        "cache_hit_seconds": cache_seconds,
        "gz_mb": sum(p.stat().st_size for p in (data / "events").glob("*.gz")) / 2**20,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--quick", action="store_true", help="one small size (100k events)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "pqa-bench")
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(_measure(*args.measure)))
        return 0

    sizes = [100_000] if args.quick else args.events
    args.workdir.mkdir(parents=True, exist_ok=True)
    per_account = events_per_account(args.workdir)
    rows = []
    for size in sizes:
        print(f"{size:,} events:", flush=True)
        data = simulated_world(args.workdir, size, per_account)
        out = args.workdir / "ingested"
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(data), str(out)],
            check=True,
            capture_output=True,
            text=True,
        )
        shutil.rmtree(out, ignore_errors=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))

    print(
        f"\n{'events':>12} {'gz MB':>8} {'seconds':>8} {'events/s':>10} {'peak RSS MB':>12} "
        f"{'cache hit s':>12}"
    )
    for row in rows:
        print(
            f"{row['records']:>12,} {row['gz_mb']:>8.0f} {row['seconds']:>8.1f} "
            f"{row['events_per_second']:>10,.0f} {row['peak_rss_mb']:>12,.0f} "
            f"{row['cache_hit_seconds']:>12.3f}"
        )
    slowest = min(row["events_per_second"] for row in rows)
    verdict = "meets" if slowest >= TARGET_EVENTS_PER_SECOND else "MISSES"
    print(
        f"\nSlowest run {slowest:,.0f} events/s: {verdict} the target of "
        f"{TARGET_EVENTS_PER_SECOND:,} events/s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
