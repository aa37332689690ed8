"""The synthetic world: determinism, vocabulary, truth, CRM and faults."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import orjson
import pytest

from pqa.config import load_config, parse_config
from pqa.simulator import simulate
from pqa.simulator.vocabulary import build_vocabulary, concrete_paths
from pqa.simulator.world import window_probability

START = date(2025, 1, 1)


def read_lines(world: Path) -> list[bytes]:
    lines: list[bytes] = []
    for part in sorted((world / "events").glob("part-*.jsonl.gz")):
        with gzip.open(part, "rb") as handle:
            lines.extend(handle.read().splitlines())
    return lines


def read_messages(world: Path) -> list[dict]:
    return [orjson.loads(line) for line in read_lines(world)]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def world_bytes(world: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(world)): path.read_bytes()
        for path in sorted(world.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def small_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small") / "world"
    simulate(out, accounts=40, months=6, seed=3, start=START)
    return out


@pytest.fixture(scope="module")
def mid_world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mid") / "world"
    simulate(out, accounts=900, months=15, seed=11, start=START)
    return out


@pytest.fixture(scope="module")
def faulty_world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("faulty") / "world"
    summary = simulate(out, accounts=30, months=4, seed=5, start=START, faults=True)
    return out, summary.to_dict()


# ----------------------------------------------------------------------------- determinism


def test_same_seed_writes_identical_bytes(small_world, tmp_path):
    again = tmp_path / "again"
    simulate(again, accounts=40, months=6, seed=3, start=START)

    assert world_bytes(again) == world_bytes(small_world)


def test_different_seed_writes_different_events(small_world, tmp_path):
    other = tmp_path / "other"
    simulate(other, accounts=40, months=6, seed=4, start=START)

    assert read_lines(other) != read_lines(small_world)


@pytest.mark.parametrize(
    ("chunk_size", "workers", "parts"),
    [(7, 1, 6), (13, 2, 4)],
    ids=["small-chunks", "two-processes"],
)
def test_chunking_does_not_change_the_world(small_world, tmp_path, chunk_size, workers, parts):
    chunked = tmp_path / "chunked"
    simulate(
        chunked,
        accounts=40,
        months=6,
        seed=3,
        start=START,
        chunk_size=chunk_size,
        workers=workers,
    )

    assert len(list((chunked / "events").glob("part-*"))) == parts
    assert sorted(read_lines(chunked)) == sorted(read_lines(small_world))
    for table in (
        "truth/conversion_probability.csv",
        "truth/companies.csv",
        "crm/accounts.csv",
        "crm/opportunities.csv",
    ):
        assert (chunked / table).read_bytes() == (small_world / table).read_bytes()


def test_summary_file_matches_returned_counts(tmp_path):
    summary = simulate(tmp_path / "w", accounts=5, months=2, seed=1, start=START)

    written = json.loads((tmp_path / "w" / "simulation.json").read_text())
    assert written == summary.to_dict()
    assert written["companies"] == 5
    assert written["events"] == len(read_lines(tmp_path / "w"))
    assert written["events"] == sum(written[t] for t in ("track", "page", "identify", "group"))


def test_progress_reports_companies_done(tmp_path):
    calls = []
    simulate(
        tmp_path / "w",
        accounts=12,
        months=2,
        seed=1,
        chunk_size=5,
        progress=lambda done, total: calls.append((done, total)),
    )

    assert calls == [(5, 12), (10, 12), (12, 12)]


# ----------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounts": 0}, "accounts must be an integer >= 1; got 0"),
        ({"months": 0}, "months must be an integer from 1 to 36; got 0"),
        ({"months": 37}, "months must be an integer from 1 to 36; got 37"),
        ({"seed": -1}, "seed must be a non-negative integer; got -1"),
        ({"start": "2025-01-01"}, "start must be a datetime.date"),
    ],
    ids=["no-accounts", "zero-months", "too-many-months", "negative-seed", "text-start"],
)
def test_invalid_arguments_name_the_option(tmp_path, kwargs, message):
    arguments = {"accounts": 3, "months": 2, "seed": 0, **kwargs}

    with pytest.raises(ValueError, match=message):
        simulate(tmp_path / "w", **arguments)

    assert not (tmp_path / "w" / "simulation.json").exists()


# ----------------------------------------------------------------------------- vocabulary


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/pricing*", "/pricing"),
        ("/legal/*", "/legal/dpa"),
        ("/trust*", "/trust"),
        ("/plan?", "/planx"),
    ],
    ids=["trailing-star", "star-after-slash", "other-trailing-star", "question-mark"],
)
def test_concrete_path_fills_the_glob(pattern, expected):
    assert concrete_paths(pattern)[0] == expected


CUSTOM = {
    "events": {
        "value": ["Widget Built", "Chart Saved"],
        "collaboration": ["Note Left"],
        "invite": ["Teammate Invited"],
        "user_added": ["Seat Added"],
        "role_change": {
            "event": "Permission Updated",
            "property": "level",
            "admin_values": ["superuser"],
        },
    },
    "pages": {
        "pricing": ["/plans*"],
        "security": ["/compliance/*"],
        "legal": ["/tos*"],
        "enterprise": ["/business*"],
    },
}


def test_custom_vocabulary_is_used_for_events_and_pages(tmp_path):
    config = parse_config(CUSTOM)
    simulate(tmp_path / "w", accounts=60, months=8, seed=2, start=START, config=config)

    messages = read_messages(tmp_path / "w")
    tracks = Counter(m["event"] for m in messages if m["type"] == "track")
    custom = {
        "Widget Built",
        "Chart Saved",
        "Note Left",
        "Teammate Invited",
        "Seat Added",
        "Permission Updated",
    }
    neutral = set(build_vocabulary(config).neutral_events)
    assert custom <= set(tracks)
    assert set(tracks) <= custom | neutral
    assert not set(tracks) & {"Task Completed", "Role Changed", "Invite Sent"}
    levels = {m["properties"]["level"] for m in messages if m.get("event") == "Permission Updated"}
    assert "superuser" in levels and "member" in levels
    paths = {m["properties"].get("path") for m in messages if m["type"] == "page"}
    roles = {config.pages.role_of_path(p) for p in paths}
    assert roles == {"pricing", "security", "legal", "enterprise", None}
    assert {"/plans", "/compliance/dpa", "/tos", "/business"} <= paths


def test_default_vocabulary_includes_neutral_events_and_pages(small_world):
    config = load_config()
    messages = read_messages(small_world)

    names = {m["event"] for m in messages if m["type"] == "track"}
    paths = {m["properties"].get("path") for m in messages if m["type"] == "page"}
    assert any(name not in config.events.role_of() for name in names)
    assert any(path and config.pages.role_of_path(path) is None for path in paths)
    assert "/pricing" in paths and "/security" in paths


# ----------------------------------------------------------------------------- messages


def test_messages_follow_the_segment_spec(small_world):
    messages = read_messages(small_world)

    assert len({m["messageId"] for m in messages}) == len(messages)
    for message in messages:
        assert message["type"] in ("track", "page", "identify", "group")
        assert "anonymousId" in message
    offsets = Counter(m["timestamp"][23:] for m in messages)
    assert "Z" in offsets and len(offsets) >= 3
    groups = [m for m in messages if m["type"] == "group"]
    assert all(m["groupId"].startswith("ws_") and "userId" in m for m in groups)
    identifies = [m for m in messages if m["type"] == "identify"]
    assert all("@" in m["traits"]["email"] for m in identifies)
    answered = sum("company_size" in m["traits"] for m in identifies) / len(identifies)
    assert 0.5 < answered < 0.9


def test_anonymous_views_come_before_an_identify_with_the_same_anonymous_id(small_world):
    messages = read_messages(small_world)
    identified = {m["anonymousId"]: m["timestamp"] for m in messages if m["type"] == "identify"}

    anonymous = [m for m in messages if "userId" not in m]
    assert anonymous
    assert all(m["type"] == "page" and m["anonymousId"] in identified for m in anonymous)
    earlier = [m for m in anonymous if _utc(m["timestamp"]) < _utc(identified[m["anonymousId"]])]
    assert len(earlier) >= len(anonymous) // 2


def _utc(stamp: str) -> np.datetime64:
    from datetime import datetime

    return np.datetime64(
        datetime.fromisoformat(stamp).replace(tzinfo=None)
        - datetime.fromisoformat(stamp).utcoffset()
    )


# ----------------------------------------------------------------------------- truth


def test_truth_probabilities_are_valid_and_name_event_accounts(mid_world):
    truth = read_csv(mid_world / "truth" / "conversion_probability.csv")
    domains = set()
    workspaces = set()
    for line in read_lines(mid_world):
        if b'"type":"identify"' in line:
            email = orjson.loads(line)["traits"]["email"]
            domains.add(email.split("@")[1])
        elif b'"type":"group"' in line:
            workspaces.add(orjson.loads(line)["groupId"])

    probabilities = np.array([float(row["probability"]) for row in truth])
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    accounts = {row["account_id"] for row in truth}
    assert {a for a in accounts if not a.startswith("workspace:")} <= domains
    assert {a.removeprefix("workspace:") for a in accounts if a.startswith("workspace:")} <= (
        workspaces
    )
    as_of = {row["as_of"] for row in truth}
    assert as_of == {date(2025, m, 1).isoformat() for m in range(2, 13)} | {
        date(2026, m, 1).isoformat() for m in range(1, 4)
    }


def test_personal_workspaces_have_zero_probability(mid_world):
    truth = read_csv(mid_world / "truth" / "conversion_probability.csv")

    personal = [float(r["probability"]) for r in truth if r["account_id"].startswith("workspace:")]
    assert personal and max(personal) == 0.0


def test_high_truth_decile_converts_more_than_low(mid_world):
    config = load_config()
    truth = [
        r
        for r in read_csv(mid_world / "truth" / "conversion_probability.csv")
        if r["horizon_complete"] == "true"
    ]
    closes = _enterprise_close_dates(mid_world, config.conversion.min_amount)

    probability = np.array([float(r["probability"]) for r in truth])
    converted = np.array([_converts_within(r, closes, 90) for r in truth])
    order = np.argsort(probability)
    tenth = len(order) // 10
    low, high = converted[order[:tenth]].mean(), converted[order[-tenth:]].mean()
    assert high > 0.05 > low
    assert abs(converted.mean() - probability.mean()) < 0.01


def _enterprise_close_dates(world: Path, min_amount: float) -> dict[str, date]:
    websites = {
        row["Id"]: row["Website"]
        .removeprefix("https://")
        .removeprefix("http://")
        .removeprefix("www.")
        .rstrip("/")
        for row in read_csv(world / "crm" / "accounts.csv")
    }
    closes = {}
    for opp in read_csv(world / "crm" / "opportunities.csv"):
        if opp["IsWon"] == "true" and float(opp["Amount"]) >= min_amount:
            closes[websites[opp["AccountId"]]] = date.fromisoformat(opp["CloseDate"])
    return closes


def _converts_within(row: dict[str, str], closes: dict[str, date], horizon: int) -> bool:
    close = closes.get(row["account_id"])
    as_of = date.fromisoformat(row["as_of"])
    return close is not None and as_of <= close < as_of + timedelta(days=horizon)


def test_conversions_are_spread_over_the_history(mid_world):
    closes = _enterprise_close_dates(mid_world, load_config().conversion.min_amount)
    companies = read_csv(mid_world / "truth" / "companies.csv")

    share = len(closes) / len(companies)
    assert 0.03 <= share <= 0.09
    assert len({(d.year, d.month) for d in closes.values()}) >= 12


def test_enterprise_opportunities_are_created_months_before_close(mid_world):
    opportunities = read_csv(mid_world / "crm" / "opportunities.csv")

    won = [o for o in opportunities if o["IsWon"] == "true" and float(o["Amount"]) >= 15000]
    cycles = [
        (date.fromisoformat(o["CloseDate"]) - date.fromisoformat(o["CreatedDate"])).days
        for o in won
    ]
    assert won and min(cycles) >= 59 and max(cycles) <= 184
    stages = Counter(o["StageName"] for o in opportunities)
    assert stages["Closed Lost"] > 0 and stages["Closed Won"] > len(won)


def test_window_probability_multiplies_monthly_survival():
    hazards = np.array([0.1, 0.2, 0.3, 0.4])
    month_starts = np.array([0, 31, 59, 90, 120])

    # months 1 and 2 are covered whole, month 3 for 1 of its 30 days:
    # 1 - (1 - 0.2) * (1 - 0.3) * (1 - 0.4 / 30) = 0.4474666...
    assert window_probability(hazards, month_starts, 31, 60) == pytest.approx(0.44746667, 1e-6)
    assert window_probability(hazards, month_starts, 31, 1) == pytest.approx(0.2 / 28)


# ----------------------------------------------------------------------------- faults


def test_fault_lines_are_counted_by_kind(faulty_world):
    world, summary = faulty_world
    lines = read_lines(world)
    faults = summary["faults"]

    assert all(count >= 1 for count in faults.values())
    assert len(lines) == summary["lines"] == summary["events"] + sum(faults.values())
    found = Counter()
    seen = set()
    for line in lines:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            found["invalid_utf8"] += 1
            continue
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            found["malformed_json"] += 1
            continue
        if line in seen:
            found["duplicate"] += 1
            continue
        seen.add(line)
        kind = message["type"]
        if kind in ("screen", "alias"):
            found[kind] += 1
        elif kind not in ("track", "page", "identify", "group"):
            found["unknown_type"] += 1
        elif "timestamp" not in message:
            found["missing_timestamp"] += 1
        elif message["timestamp"] > "2030":
            found["future_timestamp"] += 1
    assert found == Counter(faults)


def test_faults_leave_the_valid_messages_unchanged(faulty_world, tmp_path):
    world, _ = faulty_world
    clean = tmp_path / "clean"
    simulate(clean, accounts=30, months=4, seed=5, start=START)

    valid = set(read_lines(clean))
    assert valid <= set(read_lines(world))
    assert (clean / "truth" / "conversion_probability.csv").read_bytes() == (
        world / "truth" / "conversion_probability.csv"
    ).read_bytes()
