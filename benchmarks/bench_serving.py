"""Benchmark the HTTP scoring service: latency and throughput over real HTTP on 127.0.0.1.

Builds a simulated world, trains and promotes a champion (temporary MLflow store and
BentoML home), starts ``bentoml serve`` as ``pqa serve`` would, and measures:

- one account from a feature row, sequential requests (target p50 <= 5 ms, p99 <= 20 ms);
- 1,000 feature rows in one request (target <= 100 ms);
- one account from about a year of raw events, ~5,000 messages (target <= 100 ms);
- 20 concurrent clients for 60 s on single rows: errors (target 0), throughput, p99.

Usage: ``uv run --frozen python benchmarks/bench_serving.py [--accounts 300] [--workers 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGETS = {
    "single_p50_ms": 5.0,
    "single_p99_ms": 20.0,
    "rows_1000_ms": 100.0,
    "events_account_ms": 100.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--months", type=int, default=14)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="BentoML worker processes.")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of load.")
    parser.add_argument("--single", type=int, default=1000, help="Sequential single rows.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        root = Path(scratch)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        os.environ["BENTOML_HOME"] = str(root / "bentoml")
        os.environ["BENTOML_DO_NOT_TRACK"] = "true"
        from serving.model_store import stop_process_group, wait_until_ready

        tag, rows, messages, as_of = prepare(root, args)
        port = free_port()
        server = start(tag, port, args.workers, root / "server.log")
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(server, url, root / "server.log", seconds=120)
            figures = measure(url, rows, messages, as_of, args)
        finally:
            stop_process_group(server, timeout=20)
    report(figures, args)


def prepare(root: Path, args) -> tuple[str, list[dict], list[dict], str]:
    import pandas as pd

    from features.accounts import user_accounts
    from features.ingest import ensure_ingested
    from features.snapshots import compute_features
    from features.tables import load_tables
    from pqa.config import load_config
    from pqa.simulator import simulate
    from serving.model_store import import_champion
    from training.train import run_training

    cfg = load_config()
    data = root / "data"
    started = time.perf_counter()
    simulate(data, accounts=args.accounts, months=args.months, seed=args.seed, config=cfg)
    run_training(data, cfg, promote=True)
    tag = import_champion(cfg)
    tables = load_tables(ensure_ingested(data, cfg))
    as_of = tables.events["timestamp"].max().normalize() + pd.Timedelta(days=1)
    features = compute_features(tables, cfg, [as_of])
    rows = [feature_request(row) for _, row in features.iterrows()]
    messages = year_of_events(data, tables, as_of, user_accounts)
    print(
        f"Prepared world, model and {len(rows)} feature rows in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return tag, rows, messages, as_of.date().isoformat()


def feature_request(row) -> dict:
    import pandas as pd

    from features.catalog import FEATURES

    features = {}
    for name, spec in FEATURES.items():
        value = row[name]
        if spec.kind == "numeric":
            features[name] = None if pd.isna(value) else float(value)
        elif spec.kind == "boolean":
            features[name] = bool(value)
        else:
            features[name] = None if pd.isna(value) else str(value)
    day = row["max_users_added_day_90d"]
    features["max_users_added_day_90d"] = None if pd.isna(day) else day.date().isoformat()
    return {"account_id": row["account_id"], "features": features}


def year_of_events(data: Path, tables, as_of, user_accounts) -> list[dict]:
    """The raw messages of the account whose last year of events is closest to 5,000."""
    import pandas as pd

    members = user_accounts(tables, as_of)
    start = (as_of - pd.Timedelta(days=365)).isoformat()
    messages = []
    for path in sorted((data / "events").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            messages += [m for m in map(json.loads, handle) if m.get("timestamp", "") >= start]
    by_user = members.groupby("user_id")["account_id"].first().to_dict()
    by_workspace = members.groupby("workspace_id")["account_id"].first().to_dict()
    by_anonymous = {
        m.get("anonymousId"): by_user.get(m.get("userId"))
        for m in messages
        if m.get("type") == "identify"
    }

    def account_of(message: dict) -> str | None:
        return (
            by_user.get(message.get("userId"))
            or by_workspace.get(message.get("groupId"))
            or by_workspace.get((message.get("context") or {}).get("groupId"))
            or (
                by_anonymous.get(message.get("anonymousId"))
                if message.get("userId") is None
                else None
            )
        )

    owners = [account_of(m) for m in messages]
    counts = pd.Series([o for o in owners if o]).value_counts()
    chosen = (counts - 5000).abs().idxmin()
    return [m for m, owner in zip(messages, owners, strict=True) if owner == chosen]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tag: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    from serving.model_store import serve_command
    from serving.service import WORKERS_ENV

    command, env = serve_command(tag, Path(""), "127.0.0.1", port)
    env.pop("PQA_CONFIG", None)
    env[WORKERS_ENV] = str(workers)
    return subprocess.Popen(
        command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def timed(client, path: str, body: dict, repeat: int) -> np.ndarray:
    """Latencies in ms of ``repeat`` sequential requests; the body is encoded once, before
    timing, so that the figure is the service's (and the network's), not the client's
    JSON encoding of several megabytes."""
    content = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.post(path, content=content, headers=headers)
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
    return np.array(seconds) * 1000


def measure(url: str, rows: list[dict], messages: list[dict], as_of: str, args) -> dict:
    import httpx

    figures: dict[str, float] = {}
    with httpx.Client(base_url=url, timeout=120) as client:
        single = [{**rows[i % len(rows)]} for i in range(args.single)]
        timed(client, "/score_features", single[0], 50)
        latencies = np.concatenate([timed(client, "/score_features", r, 1) for r in single])
        figures["single_p50_ms"] = float(np.percentile(latencies, 50))
        figures["single_p99_ms"] = float(np.percentile(latencies, 99))

        batch = {"rows": [rows[i % len(rows)] for i in range(1000)]}
        timed(client, "/score_features_batch", batch, 2)
        figures["rows_1000_ms"] = float(
            np.median(timed(client, "/score_features_batch", batch, 15))
        )

        events = {"messages": messages, "as_of": as_of}
        timed(client, "/score_events", events, 2)
        figures["events_account_ms"] = float(np.median(timed(client, "/score_events", events, 15)))
        figures["events_in_request"] = len(messages)

    figures.update(asyncio.run(load(url, rows, args.clients, args.duration)))
    return figures


async def load(url: str, rows: list[dict], clients: int, duration: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + duration

    async def client_loop(index: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            i = index
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    response = await client.post("/score_features", json=rows[i % len(rows)])
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)
                i += clients

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    values = np.array(latencies) * 1000
    return {
        "load_requests": len(latencies),
        "load_errors": errors,
        "load_throughput_rps": len(latencies) / elapsed,
        "load_p50_ms": float(np.percentile(values, 50)),
        "load_p99_ms": float(np.percentile(values, 99)),
    }


def report(figures: dict, args) -> None:
    print(
        f"\nServing benchmark ({args.workers} worker(s), {args.clients} clients for "
        f"{args.duration:.0f} s, {os.cpu_count()} CPUs)"
    )
    print(f"{'figure':<28}{'value':>12}  target")
    for name, value in figures.items():
        target = TARGETS.get(name)
        if name == "load_errors":
            target_text = "== 0  " + ("ok" if value == 0 else "MISSED")
        elif target is None:
            target_text = ""
        else:
            target_text = f"<= {target:g}  " + ("ok" if value <= target else "MISSED")
        shown = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        print(f"{name:<28}{shown:>12}  {target_text}")


if __name__ == "__main__":
    main()
