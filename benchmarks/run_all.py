"""Run every benchmark script in this folder and print their figures.

Each ``bench_*.py`` is a standalone script that prints its own table; this runner
calls them one after another in fresh processes (so that peak-memory figures do not
mix) and reports which ones failed. Pass ``--quick`` for the small sizes only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("names", nargs="*", help="benchmarks to run, e.g. ingest features")
    args = parser.parse_args()

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.names:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.names]
    failed = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.perf_counter()
        command = [sys.executable, str(script)] + (["--quick"] if args.quick else [])
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(script.stem)
        print(f"({script.stem} took {time.perf_counter() - started:.0f} s)", flush=True)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
