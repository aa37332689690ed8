"""The HTTP service, end to end: a real `bentoml serve` on 127.0.0.1 with a trained model.

One small simulated world is trained once (in a subprocess with a temporary MLflow store
and BentoML home), the champion is imported and scored in batch, and one server is
started for the module with a bearer token set.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import bentoml
import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, settings

from features.catalog import FEATURES
from serving.model_store import stop_process_group, wait_until_ready
from serving.scoring import SCORE_COLUMNS

TOKEN = "test-token-123"
AS_OF = "2025-10-01"
PREPARE = """
import sys
from datetime import date
from pathlib import Path

from pqa.config import load_config
from pqa.simulator import simulate
from serving.batch import score_batch
from serving.model_store import import_champion
from training.train import run_training

root = Path(sys.argv[1])
cfg = load_config()
simulate(root / "data", accounts=200, months=11, seed=7, config=cfg, workers=1)
run_training(root / "data", cfg, promote=True)
score_batch(root / "data", cfg, date.fromisoformat(sys.argv[2]), out=root / "scores.parquet")
score_batch(root / "data", cfg, date.fromisoformat(sys.argv[2]), out=root / "scores.csv")
print(import_champion(cfg))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A trained champion in a temporary MLflow store, imported into a temporary
    BentoML home, and its batch scores at AS_OF."""
    root = tmp_path_factory.mktemp("service")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "BENTOML_HOME": str(root / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", PREPARE, str(root), AS_OF],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    tag = done.stdout.strip().splitlines()[-1]
    return {"root": root, "env": env, "tag": tag}


def start_server(env: dict, port: int, log: Path) -> subprocess.Popen:
    from serving.model_store import serve_command

    command, _ = serve_command(
        env["PQA_MODEL_TAG"], Path(env.get("PQA_CONFIG", "")), "127.0.0.1", port
    )
    handle = log.open("wb")
    return subprocess.Popen(
        command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture(scope="module")
def server(prepared):
    port = free_port()
    env = {
        **prepared["env"],
        "PQA_MODEL_TAG": prepared["tag"],
        "PQA_API_TOKEN": TOKEN,
        "PQA_MAX_BODY_BYTES": str(4 * 1024 * 1024),
    }
    env.pop("PQA_CONFIG", None)
    log = prepared["root"] / "server.log"
    process = start_server(env, port, log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, log, seconds=90)
        yield url
    finally:
        stop_process_group(process, timeout=20)


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(
        base_url=server, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as client:
        yield client


@pytest.fixture(scope="module")
def batch_scores(prepared):
    return pd.read_parquet(prepared["root"] / "scores.parquet")


@pytest.fixture(scope="module")
def feature_table(prepared):
    from features.ingest import ensure_ingested
    from features.snapshots import compute_features
    from features.tables import load_tables
    from pqa.config import load_config

    cfg = load_config()
    tables = load_tables(ensure_ingested(prepared["root"] / "data", cfg))
    return compute_features(tables, cfg, [pd.Timestamp(AS_OF, tz="UTC")]), tables


def request_row(frame_row: pd.Series) -> dict:
    """A score_features request body from one row of a feature table."""
    features = {}
    for name, spec in FEATURES.items():
        value = frame_row[name]
        if spec.kind == "numeric":
            value = None if pd.isna(value) else float(value)
        elif spec.kind == "boolean":
            value = bool(value)
        else:
            value = None if pd.isna(value) else str(value)
        features[name] = value
    day = frame_row["max_users_added_day_90d"]
    features["max_users_added_day_90d"] = None if pd.isna(day) else day.date().isoformat()
    return {"account_id": frame_row["account_id"], "as_of": AS_OF, "features": features}


def test_readyz_and_healthz_need_no_token(server):
    assert httpx.get(f"{server}/readyz").status_code == 200
    assert httpx.get(f"{server}/healthz").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}],
    ids=["no-token", "wrong-token", "no-bearer-prefix"],
)
def test_endpoints_need_the_bearer_token(server, headers):
    response = httpx.post(f"{server}/metadata", json={}, headers=headers)

    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]


def test_metadata_describes_the_champion(http, prepared):
    body = http.post("/metadata", json={}).json()

    assert body["model_tag"] == prepared["tag"]
    assert body["model_version"] == "pqa-propensity/1"
    assert set(body["tier_cutoffs"]) == {"A", "B", "C"}
    assert body["tier_cutoffs"]["A"] >= body["tier_cutoffs"]["B"] >= body["tier_cutoffs"]["C"]
    assert sorted(body["features"]) == sorted(FEATURES)


def test_sync_client_scores_one_feature_row(server, feature_table):
    frame, _ = feature_table
    row = request_row(frame.iloc[0])

    with bentoml.SyncHTTPClient(server, token=TOKEN) as client:
        score = client.score_features(**row)

    assert list(score) == list(SCORE_COLUMNS)
    assert score["account_id"] == row["account_id"]
    assert score["as_of"] == AS_OF
    assert 0.0 <= score["propensity"] <= 1.0
    assert score["tier"] in {"A", "B", "C", "D"}
    assert score["model_version"] == "pqa-propensity/1"
    for reason in score["reasons"]:
        assert set(reason) == {"feature", "direction", "contribution", "value", "text"}


def test_batch_and_service_give_identical_scores(http, feature_table, batch_scores):
    frame, _ = feature_table
    rows = [request_row(r) for _, r in frame.iterrows()]

    scores = http.post("/score_features_batch", json={"rows": rows}).json()["scores"]

    by_account = batch_scores.set_index("account_id")
    assert len(scores) == len(by_account)
    for score in scores:
        expected = by_account.loc[score["account_id"]]
        assert score["propensity"] == pytest.approx(expected["propensity"], rel=1e-9)
        assert score["tier"] == expected["tier"]
        assert score["play"] == expected["play"]
        assert score["pqa"] == bool(expected["pqa"])
        assert [r["text"] for r in score["reasons"]] == [r["text"] for r in expected["reasons"]]


def account_messages(data_dir: Path, tables, account: str) -> list[dict]:
    """The raw Segment messages of one account's users and workspaces."""
    from features.accounts import user_accounts

    members = user_accounts(tables, pd.Timestamp(AS_OF, tz="UTC"))
    members = members[members["account_id"] == account]
    users, workspaces = set(members["user_id"]), set(members["workspace_id"])
    messages = []
    for path in sorted((data_dir / "events").rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as handle:
            messages += [json.loads(line) for line in handle]
    anonymous = {
        m.get("anonymousId")
        for m in messages
        if m.get("type") == "identify" and m.get("userId") in users
    }
    return [
        m
        for m in messages
        if m.get("userId") in users
        or m.get("groupId") in workspaces
        or (m.get("context") or {}).get("groupId") in workspaces
        or (m.get("userId") is None and m.get("anonymousId") in anonymous)
    ]


def test_raw_events_score_like_batch(http, prepared, feature_table, batch_scores):
    _, tables = feature_table
    best = batch_scores[~batch_scores["account_id"].str.startswith("workspace:")].iloc[0]
    messages = account_messages(prepared["root"] / "data", tables, best["account_id"])

    response = http.post("/score_events", json={"messages": messages, "as_of": AS_OF})

    assert response.status_code == 200, response.text
    score = response.json()
    assert score["account_id"] == best["account_id"]
    assert score["propensity"] == pytest.approx(best["propensity"], rel=1e-9)
    assert score["tier"] == best["tier"]
    assert score["play"] == best["play"]


CRAFTED = {
    "young-non-pqa-waits": ({"tenure_days": 5.0, "active_users_28d": 2.0}, "wait", "none"),
    "pqa-without-buyer-find-buyer": (
        {
            "tenure_days": 200.0,
            "active_users_28d": 12.0,
            "value_events_28d": 900.0,
            "has_decision_maker": False,
        },
        "find_buyer",
        "marketing",
    ),
    "pqa-security-silos-consolidate": (
        {
            "tenure_days": 200.0,
            "active_users_28d": 12.0,
            "days_since_security_visit": 4.0,
            "workspaces": 3.0,
            "has_decision_maker": True,
        },
        "consolidate_secure",
        "sales",
    ),
    "pqa-spike-value-discovery": (
        {
            "tenure_days": 200.0,
            "active_users_28d": 12.0,
            "max_users_added_in_day_90d": 15.0,
            "max_users_added_day_90d": "2025-07-20",
            "has_decision_maker": True,
        },
        "value_discovery",
        "sales",
    ),
    "pqa-with-buyer-enterprise": (
        {
            "tenure_days": 200.0,
            "active_users_28d": 12.0,
            "admin_changes_90d": 1.0,
            "has_decision_maker": True,
        },
        "enterprise_conversation",
        "sales",
    ),
}


@pytest.mark.parametrize(("features", "play", "owner"), list(CRAFTED.values()), ids=list(CRAFTED))
def test_crafted_accounts_get_their_play(http, features, play, owner):
    body = {"account_id": "crafted.io", "as_of": AS_OF, "features": features}

    score = http.post("/score_features", json=body).json()

    assert (score["play"], score["owner"]) == (play, owner)


def test_spike_reason_names_the_day(http):
    features = {
        "tenure_days": 200.0,
        "active_users_28d": 12.0,
        "max_users_added_in_day_90d": 15.0,
        "max_users_added_day_90d": "2025-07-20",
    }

    score = http.post("/score_features", json={"account_id": "s.io", "features": features})

    assert {"name": "velocity_spike", "reason": "15 users added in one day"} in (
        score.json()["pqa_rules"]
    )


def row_with(**features):
    return {"account_id": "a.io", "features": features}


BAD_REQUESTS = {
    "unknown-field": ("/score_features", {**row_with(), "colour": "red"}, "colour"),
    "unknown-feature": ("/score_features", row_with(active_users=3), "active_users"),
    "number-as-text": ("/score_features", row_with(active_users_28d="3"), "active_users_28d"),
    "bool-as-number": ("/score_features", row_with(has_decision_maker=1), "has_decision_maker"),
    "bad-date": ("/score_features", {**row_with(), "as_of": "01/08/2025"}, "as_of"),
    "missing-account": ("/score_features", {"features": {}}, "account_id"),
    "empty-batch": ("/score_features_batch", {"rows": []}, "rows"),
    "oversized-batch": ("/score_features_batch", {"rows": [row_with()] * 5001}, "rows"),
    "empty-events": ("/score_events", {"messages": []}, "messages"),
    "message-unknown-field": (
        "/score_events",
        {"messages": [{"type": "track", "colour": 1}]},
        "colour",
    ),
    "all-messages-rejected": (
        "/score_events_batch",
        {"messages": [{"type": "track", "messageId": "m1"}]},
        "messages",
    ),
}


@pytest.mark.parametrize(
    ("path", "body", "field"), list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS)
)
def test_bad_request_is_400_naming_the_field(http, path, body, field):
    response = http.post(path, json=body)

    assert response.status_code == 400, response.text
    locations = [str(part) for d in response.json()["detail"] for part in d["loc"]]
    assert field in locations


def test_malformed_json_is_400(http):
    response = http.post(
        "/score_features", content=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400


def test_body_over_the_limit_is_413(http):
    response = http.post(
        "/score_features_batch",
        content=b" " * (5 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]


def test_server_without_model_stops_with_a_training_hint(prepared, tmp_path):
    env = {**prepared["env"], "PQA_MODEL_TAG": "pqa-propensity:doesnotexist"}
    process = start_server(env, free_port(), tmp_path / "log.txt")
    try:
        process.wait(timeout=60)
    finally:
        stop_process_group(process, timeout=20)

    assert "pqa train DATA_DIR --promote" in (tmp_path / "log.txt").read_text()


def test_generated_requests_never_get_a_server_error(server):
    import schemathesis
    from hypothesis import given

    schema = schemathesis.openapi.from_url(f"{server}/docs.json")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    checked, statuses = [], []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def no_server_error(case):
            response = case.call(base_url=server, headers=headers)
            statuses.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
            )

        no_server_error()
        checked.append(operation.path)

    assert "/score_features" in checked and "/score_events_batch" in checked
    assert 200 in statuses and 400 in statuses


def test_batch_csv_holds_reasons_as_json_and_parquet_as_lists(prepared, batch_scores):
    csv = pd.read_csv(prepared["root"] / "scores.csv")

    assert list(csv.columns) == list(SCORE_COLUMNS)
    assert csv["account_id"].tolist() == batch_scores["account_id"].tolist()
    assert (csv["as_of"] == AS_OF).all()
    first = json.loads(csv["reasons"].iloc[0])
    assert [r["text"] for r in first] == [r["text"] for r in batch_scores["reasons"].iloc[0]]
    assert batch_scores["propensity"].is_monotonic_decreasing


def test_pqa_serve_reuses_the_imported_champion_and_answers(prepared, tmp_path):
    port = free_port()
    env = {**prepared["env"], "PQA_API_TOKEN": ""}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pqa.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        cwd=prepared["root"],
    )
    try:
        deadline, body = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                body = httpx.post(f"http://127.0.0.1:{port}/metadata", json={}).json()
                break
            except httpx.TransportError:
                time.sleep(0.5)
    finally:
        stop_process_group(process, timeout=20)

    assert body is not None, (tmp_path / "serve.log").read_text()[-3000:]
    assert body["model_tag"] == prepared["tag"]


def test_bentoml_build_packages_the_service(prepared, tmp_path):
    env = {**prepared["env"], "BENTOML_HOME": str(tmp_path / "home")}
    project = Path(__file__).resolve().parent.parent

    done = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert 'Successfully built Bento(tag="pqa:' in done.stdout
