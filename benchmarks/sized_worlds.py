"""Simulated worlds of about a given number of events, shared by the size benchmarks.

The simulator is sized in companies, the benchmarks in events: a small calibration
world tells how many events one company makes, and a world of the wanted size is
simulated once per work folder and reused by later runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

MONTHS = 15
CALIBRATION_ACCOUNTS = 200


def events_per_account(workdir: Path) -> float:
    """Mean events per simulated company over ``MONTHS`` months."""
    from pqa.simulator import simulate

    probe = workdir / "calibration"
    if not (probe / "simulation.json").exists():
        simulate(probe, accounts=CALIBRATION_ACCOUNTS, months=MONTHS, seed=7)
    summary = json.loads((probe / "simulation.json").read_text())
    return summary["lines"] / CALIBRATION_ACCOUNTS


def simulated_world(workdir: Path, events: int, per_account: float) -> Path:
    """The data folder of a world of about ``events`` events, simulated if missing."""
    from pqa.simulator import simulate

    accounts = max(1, round(events / per_account))
    data = workdir / f"world-{accounts}"
    if not (data / "simulation.json").exists():
        started = time.perf_counter()
        simulate(data, accounts=accounts, months=MONTHS, seed=11)
        print(f"  simulated {accounts:,} accounts in {time.perf_counter() - started:.0f} s")
    return data
