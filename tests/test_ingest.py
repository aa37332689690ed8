"""Batch ingestion of raw exports: validation, dedupe, stitching, outputs and report."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import pytest

import features.ingest.cache as cache_module
from features.ingest import ensure_ingested, ingest, normalize_messages
from features.tables import load_tables
from pqa.config import load_config

NOW = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def config():
    return load_config()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def write_lines(path: Path, lines: list[bytes | dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join((json.dumps(x).encode() if isinstance(x, dict) else x) + b"\n" for x in lines)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def track(mid, when, user="u1", event="Task Completed", workspace="w1", **extra):
    message = {"type": "track", "messageId": mid, "timestamp": when, "event": event}
    message |= {"userId": user, "context": {"groupId": workspace}} | extra
    return message


def identify(mid, when, user="u1", email="bob@acme.io", anonymous=None, **traits):
    message = {"type": "identify", "messageId": mid, "timestamp": when, "userId": user}
    message["traits"] = {"email": email, **traits}
    if anonymous:
        message["anonymousId"] = anonymous
    return message


def group(mid, when, user="u1", workspace="w1", **traits):
    return {
        "type": "group",
        "messageId": mid,
        "timestamp": when,
        "userId": user,
        "groupId": workspace,
        "traits": traits,
    }


def page(mid, when, anonymous="a1", user=None, **properties):
    message = {"type": "page", "messageId": mid, "timestamp": when, "anonymousId": anonymous}
    message["properties"] = properties
    if user:
        message["userId"] = user
    return message


def run(tmp_path, config, files: dict[str, list], **kwargs):
    data = tmp_path / "data"
    for name, lines in files.items():
        write_lines(data / "events" / name, lines)
    out = tmp_path / "out"
    report = ingest(data, config, out, now=NOW, **kwargs)
    return report, load_tables(out), out


@pytest.fixture
def small_world():
    return {
        "part-0.jsonl.gz": [
            page("m1", "2025-01-01T10:00:00Z", path="/Pricing"),
            identify("m2", "2025-01-02T00:00:00Z", anonymous="a1", title="CTO"),
            group("m3", "2025-01-02T00:00:00Z", website="https://www.Acme.io/about"),
            track("m4", "2025-01-03T00:00:00Z"),
        ],
        "part-1.jsonl": [
            track("m5", "2025-01-04T00:00:00Z", event="Role Changed", properties={"role": "OWNER"}),
            track(
                "m6", "2025-01-04T00:00:01Z", event="Role Changed", properties={"role": "member"}
            ),
            page(
                "m7",
                "2025-01-05T00:00:00Z",
                anonymous="never-identified",
                url="https://x.io/trust/",
            ),
        ],
    }


def test_anonymous_page_view_is_stitched_to_the_user_who_identified(tmp_path, config, small_world):
    _, tables, _ = run(tmp_path, config, small_world)
    events = tables.events.set_index("message_id")

    assert events.loc["m1", "user_id"] == "u1"
    # attributable once the identify call on 01-02 tied a1 to u1
    assert events.loc["m1", "attributed_at"] == ts("2025-01-02")
    assert events.loc["m1", "timestamp"] == ts("2025-01-01T10:00")
    assert events.loc["m4", "attributed_at"] == ts("2025-01-03")


def test_never_identified_anonymous_events_keep_no_user(tmp_path, config, small_world):
    _, tables, _ = run(tmp_path, config, small_world)
    row = tables.events.set_index("message_id").loc["m7"]

    assert pd.isna(row["user_id"])
    assert pd.isna(row["attributed_at"])


def test_roles_come_from_the_config_vocabulary(tmp_path, config, small_world):
    _, tables, _ = run(tmp_path, config, small_world)
    events = tables.events.set_index("message_id")

    assert events.loc["m1", "role"] == "page_pricing"
    assert events.loc["m1", "path"] == "/pricing"
    assert events.loc["m4", "role"] == "value"
    assert events.loc["m5", "role"] == "admin_change"  # "OWNER" matches "owner"
    assert events.loc["m6", "role"] == "role_change"
    assert events.loc["m7", "path"] == "/trust/"
    assert events.loc["m7", "role"] == "page_security"
    assert pd.isna(events.loc["m2", "role"])


def test_identities_and_groups_are_normalized(tmp_path, config, small_world):
    _, tables, _ = run(tmp_path, config, small_world)

    identity = tables.identities.iloc[0]
    assert (identity["user_id"], identity["email_domain"], identity["title"]) == (
        "u1",
        "acme.io",
        "CTO",
    )
    assert not identity["is_personal_domain"]
    assert tables.groups.iloc[0]["website_domain"] == "acme.io"
    assert tables.groups.iloc[0]["workspace_id"] == "w1"


def test_timestamps_with_offsets_become_utc(tmp_path, config):
    files = {
        "p.jsonl": [
            track("m1", "2025-01-01T01:00:00+02:00"),
            track("m2", "2024-12-31T18:30:00-05:00"),
            track("m3", "2025-01-01T00:00:00.250Z"),
        ]
    }
    _, tables, _ = run(tmp_path, config, files)
    stamps = dict(zip(tables.events["message_id"], tables.events["timestamp"], strict=True))

    assert stamps == {
        "m1": ts("2024-12-31T23:00:00"),
        "m2": ts("2024-12-31T23:30:00"),
        "m3": ts("2025-01-01T00:00:00.250"),
    }


def test_duplicate_keeps_the_earliest_copy_whatever_the_file_order(tmp_path, config):
    # The copy in the later file is earlier in time, so it wins.
    files = {
        "a.jsonl": [track("m1", "2025-01-05T00:00:00Z", event="Report Exported")],
        "b.jsonl": [
            track("m1", "2025-01-04T00:00:00Z", event="Project Created"),
            track("m1", "2025-01-04T00:00:00Z", event="Project Created"),
            track("m2", "2025-01-04T00:00:00Z"),
        ],
    }
    report, tables, _ = run(tmp_path, config, files)

    assert report.duplicates == 2
    assert sorted(tables.events["message_id"]) == ["m1", "m2"]
    assert tables.events.set_index("message_id").loc["m1", "event"] == "Project Created"
    assert report.accepted_by_type["track"] == 2


def test_rejected_records_carry_file_line_and_reason(tmp_path, config):
    files = {
        "sub/p.jsonl.gz": [
            track("m1", "2025-01-01T00:00:00Z"),
            b"{not json",
            b"",
            b"\xff\xfe\x00",
            {"type": "foo", "messageId": "m2", "timestamp": "2025-01-01T00:00:00Z"},
            track("m3", "yesterday"),
            track("m4", "2025-06-03T00:00:00Z"),  # more than a day after NOW
            {
                "type": "track",
                "messageId": "m5",
                "timestamp": "2025-01-01T00:00:00Z",
                "userId": "u",
            },
            {"type": "page", "messageId": "m6", "timestamp": "2025-01-01T00:00:00Z", "userId": "u"},
            {"type": "identify", "messageId": "m7", "timestamp": "2025-01-01T00:00:00Z"},
            {"type": "track", "timestamp": "2025-01-01T00:00:00Z", "userId": "u", "event": "X"},
            {"type": "screen", "messageId": "m8"},
        ]
    }
    report, _, out = run(tmp_path, config, files)
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]

    assert [(r["file"], r["line"], r["reason"]) for r in rows] == [
        ("events/sub/p.jsonl.gz", 2, "malformed_json"),
        ("events/sub/p.jsonl.gz", 4, "invalid_utf8"),
        ("events/sub/p.jsonl.gz", 5, "unknown_type"),
        ("events/sub/p.jsonl.gz", 6, "bad_timestamp"),
        ("events/sub/p.jsonl.gz", 7, "future_timestamp"),
        ("events/sub/p.jsonl.gz", 8, "missing_event_name"),
        ("events/sub/p.jsonl.gz", 9, "missing_page_path"),
        ("events/sub/p.jsonl.gz", 10, "missing_user_and_anonymous_id"),
        ("events/sub/p.jsonl.gz", 11, "missing_message_id"),
    ]
    assert rows[0]["raw"] == "{not json"
    # 12 non-blank lines: 1 track kept, 1 screen counted, 9 rejected, 1 blank line skipped
    assert report.to_dict()["input_records"] == 11
    assert (report.accepted, report.duplicates, report.quarantined) == (2, 0, 9)
    assert report.to_dict()["counted_unused"] == {"screen": 1, "alias": 0}


def test_no_email_address_reaches_any_output_file(tmp_path, config):
    files = {
        "p.jsonl": [
            identify("m1", "2025-01-01T00:00:00Z", email="Bob.Smith@Acme.io"),
            {"type": "identify", "messageId": "m2", "traits": {"email": "eve@beta.com"}},
            b'{"broken": "carol@gamma.org"',
        ]
    }
    _, tables, out = run(tmp_path, config, files)
    written = b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())

    assert tables.identities["email_domain"].tolist() == ["acme.io"]
    for local_part in (b"Bob.Smith", b"bob.smith", b"eve@", b"carol@"):
        assert local_part not in written
    assert b"***@gamma.org" in (out / "quarantine.jsonl").read_bytes()


def test_rerun_writes_byte_identical_tables(tmp_path, config, small_world):
    _, _, first = run(tmp_path, config, small_world)
    snapshot = {p.relative_to(first): p.read_bytes() for p in first.rglob("*.parquet")}
    again = ingest(tmp_path / "data", config, tmp_path / "again", now=NOW)

    assert again.accepted == 7
    rerun = {
        p.relative_to(tmp_path / "again"): p.read_bytes()
        for p in (tmp_path / "again").rglob("*.parquet")
    }
    assert rerun == snapshot


def test_small_chunks_give_the_same_rows_as_one_chunk(tmp_path, config, small_world):
    lines = small_world["part-0.jsonl.gz"] + small_world["part-1.jsonl"]
    whole = {"p.jsonl": lines}
    _, one, _ = run(tmp_path / "one", config, whole)
    _, many, _ = run(tmp_path / "many", config, whole, chunk_bytes=200)

    def rows(tables):
        return tables.events.sort_values("message_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(one), rows(many))


def test_parquet_input_with_nested_fields_is_read(tmp_path, config):
    data = tmp_path / "data" / "events"
    data.mkdir(parents=True)
    messages = [
        track("m1", "2025-01-01T00:00:00Z"),
        group("m2", "2025-01-01T00:00:00Z", plan="free"),
    ]
    text = b"".join(json.dumps(m).encode() + b"\n" for m in messages)
    pq.write_table(pa_json.read_json(io.BytesIO(text)), data / "x.parquet")
    report = ingest(tmp_path / "data", config, tmp_path / "out", now=NOW)
    tables = load_tables(tmp_path / "out")

    assert report.accepted_by_type == {"track": 1, "group": 1}
    assert tables.groups["plan"].tolist() == ["free"]
    assert tables.events.set_index("message_id").loc["m1", "workspace_id"] == "w1"


def test_report_counts_accounts_workspaces_and_users(tmp_path, config):
    files = {
        "p.jsonl": [
            identify("m1", "2025-01-01T00:00:00Z", user="u1", email="a@acme.io"),
            identify("m2", "2025-01-01T00:00:00Z", user="u2", email="b@gmail.com"),
            group("m3", "2025-01-01T00:00:00Z", user="u1", workspace="w1"),
            group("m4", "2025-01-01T00:00:00Z", user="u1", workspace="w2"),
            group("m5", "2025-01-01T00:00:00Z", user="u2", workspace="w3"),
        ]
    }
    report, _, out = run(tmp_path, config, files)
    written = json.loads((out / "ingest_report.json").read_text())

    # w1 and w2 are acme.io; w3 has only a gmail.com member
    assert (written["accounts"], written["workspaces"], written["users"]) == (2, 3, 2)
    assert (
        written["input_records"]
        == written["accepted"] + written["duplicates"] + written["quarantined"]
    )


def test_missing_events_folder_is_explained(tmp_path, config):
    with pytest.raises(FileNotFoundError, match="has no events/ folder"):
        ingest(tmp_path, config, tmp_path / "out")


def test_empty_input_is_refused(tmp_path, config):
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "empty.jsonl").write_bytes(b"\n")

    with pytest.raises(ValueError, match="hold no records"):
        ingest(tmp_path, config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_folder_without_event_files_is_refused(tmp_path, config):
    (tmp_path / "events").mkdir()

    with pytest.raises(ValueError, match="holds no event files"):
        ingest(tmp_path, config, tmp_path / "out")


def test_ensure_ingested_reuses_the_cache_for_unchanged_input(
    tmp_path, config, small_world, monkeypatch
):
    for name, lines in small_world.items():
        write_lines(tmp_path / "events" / name, lines)
    first = ensure_ingested(tmp_path, config)

    def refuse(*args, **kwargs):
        raise AssertionError("ingest ran again on unchanged input")

    monkeypatch.setattr(cache_module, "ingest", refuse)
    assert ensure_ingested(tmp_path, config) == first
    assert first.parent == tmp_path / ".pqa-cache"
    assert (first / "ingest_report.json").is_file()


def test_ensure_ingested_redoes_work_when_an_input_changes(tmp_path, config, small_world):
    for name, lines in small_world.items():
        write_lines(tmp_path / "events" / name, lines)
    first = ensure_ingested(tmp_path, config)
    write_lines(tmp_path / "events" / "part-2.jsonl", [track("m9", "2025-01-09T00:00:00Z")])
    second = ensure_ingested(tmp_path, config)

    assert second != first
    assert "m9" in load_tables(second).events["message_id"].tolist()


def test_normalize_messages_matches_batch_ingestion(tmp_path, config, small_world):
    messages = small_world["part-0.jsonl.gz"] + small_world["part-1.jsonl"]
    _, batch, _ = run(tmp_path, config, small_world)
    tables, rejections = normalize_messages(
        [*messages, messages[0], "not a message", {"type": "foo"}], config, now=NOW
    )

    def rows(frame):
        return frame.sort_values("message_id").reset_index(drop=True)

    pd.testing.assert_frame_equal(rows(tables.events), rows(batch.events))
    pd.testing.assert_frame_equal(tables.identities, batch.identities)
    assert rejections == [
        {"index": 7, "reason": "duplicate"},
        {"index": 8, "reason": "not_an_object"},
        {"index": 9, "reason": "unknown_type"},
    ]


@pytest.mark.parametrize(
    "user", [42, "42"], ids=["number-read-as-text-by-the-slower-path", "text-as-sent"]
)
def test_normalize_messages_gives_one_result_whichever_parser_reads_them(config, user):
    messages = [
        track("m1", "2025-01-01T00:00:00Z", user=user),
        track("m2", "2025-01-02T00:00:00Z", user="u7"),
    ]

    tables, rejections = normalize_messages(messages, config, now=NOW)

    assert rejections == []
    assert tables.events["user_id"].tolist() == ["42", "u7"]
    assert tables.events["workspace_id"].tolist() == ["w1", "w1"]


def test_normalize_messages_accepts_salesforce_crm_accounts(config):
    tables, _ = normalize_messages(
        [track("m1", "2025-01-01T00:00:00Z")],
        config,
        crm_accounts=[{"Id": "A1", "Website": "https://www.acme.io", "NumberOfEmployees": 120}],
        now=NOW,
    )

    assert tables.crm_accounts[["crm_account_id", "domain", "employees"]].values.tolist() == [
        ["A1", "acme.io", 120.0]
    ]


def test_copies_in_different_chunks_keep_the_earliest_everywhere(tmp_path, config):
    # chunk_bytes=200 spreads the lines over several chunks (and parts)
    files = {
        "p.jsonl": [
            track("m1", "2025-01-05T00:00:00Z", event="Report Exported"),
            identify("m2", "2025-01-02T00:00:00Z", title="CEO"),
            track("m1", "2025-01-04T00:00:00Z", event="Project Created"),
            identify("m2", "2025-01-01T00:00:00Z", title="CTO"),
        ]
    }
    report, tables, _ = run(tmp_path, config, files, chunk_bytes=200)

    assert report.duplicates == 2
    assert tables.events.set_index("message_id").loc["m1", "event"] == "Project Created"
    assert tables.identities["title"].tolist() == ["CTO"]
    assert len(tables.events) == 2
    assert report.accepted_by_type == {"track": 1, "identify": 1}


def test_anonymous_event_after_the_identify_is_attributable_at_its_own_time(tmp_path, config):
    files = {
        "p.jsonl": [
            identify("m1", "2025-01-01T00:00:00Z", anonymous="a1"),
            page("m2", "2025-01-03T00:00:00Z", anonymous="a1", path="/security"),
        ]
    }
    _, tables, _ = run(tmp_path, config, files)
    row = tables.events.set_index("message_id").loc["m2"]

    assert (row["user_id"], row["attributed_at"]) == ("u1", ts("2025-01-03"))
    assert row["role"] == "page_security"
