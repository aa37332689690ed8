"""Ingestion of a faulty simulated world: every line is accounted for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from features.ingest import ingest
from features.tables import load_tables
from pqa.config import load_config
from pqa.simulator import simulate

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    root = tmp_path_factory.mktemp("faulty")
    config = load_config()
    summary = simulate(root / "data", accounts=40, months=3, seed=3, faults=True, config=config)
    report = ingest(root / "data", config, root / "out", now=NOW, chunk_bytes=1 << 20)
    return summary.to_dict(), report.to_dict(), root / "out"


def test_every_record_is_accepted_duplicate_or_quarantined(faulty):
    _, report, _ = faulty

    assert report["input_records"] == (
        report["accepted"] + report["duplicates"] + report["quarantined"]
    )


def test_each_injected_fault_is_caught_under_its_own_reason(faulty):
    simulated, report, _ = faulty
    faults = simulated["faults"]

    assert report["duplicates"] == faults["duplicate"]
    assert report["counted_unused"] == {"screen": faults["screen"], "alias": faults["alias"]}
    assert report["by_reason"] == {
        reason: count
        for reason, count in {
            "malformed_json": faults["malformed_json"],
            "invalid_utf8": faults["invalid_utf8"],
            "unknown_type": faults["unknown_type"],
            "bad_timestamp": faults["missing_timestamp"],
            "future_timestamp": faults["future_timestamp"],
        }.items()
        if count
    }


def test_every_valid_message_is_kept(faulty):
    simulated, report, out = faulty
    tables = load_tables(out)

    expected = {kind: simulated[kind] for kind in ("identify", "group", "track", "page")}
    assert report["accepted_by_type"] == expected
    assert len(tables.events) == simulated["events"]
    assert tables.events["message_id"].is_unique
    assert report["event_records"] == simulated["lines"]
