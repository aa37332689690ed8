"""Salesforce CSV parsing: accounts, opportunities, rejected rows and missing columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.ingest import ingest

NOW = datetime(2025, 6, 1, tzinfo=UTC)
ACCOUNTS = """Id,Name,Website,NumberOfEmployees,Industry
A1,Acme,https://www.Acme.io/home,"1,200",Software
A2,Beta,beta.com,,
A3,NoSite,,10,Retail
A1,Acme again,acme.io,5,Software
A4,Gamma,gamma.org,many,Retail
"""
OPPORTUNITIES = """Id,AccountId,Name,StageName,Amount,CloseDate,CreatedDate,IsClosed,IsWon,Type
O1,A1,Acme - Enterprise,Closed Won,25000.5,2025-03-15,2024-12-01,true,true,New Business
O2,A2,Beta - Small,Closed Lost,900,2025-02-01T10:00:00+02:00,,1,0,
O3,A3,No site,Closed Won,50000,2025-03-01,2025-01-01,true,true,New Business
O4,A1,Bad amount,Proposal,lots,2025-03-01,2025-01-01,false,false,New Business
O5,A1,Bad date,Proposal,100,someday,2025-01-01,false,false,New Business
O6,A1,Bad flag,Proposal,100,2025-03-01,2025-01-01,maybe,false,New Business
"""


def write_world(root, accounts=ACCOUNTS, opportunities=OPPORTUNITIES):
    (root / "events").mkdir(parents=True)
    message = {
        "type": "track",
        "messageId": "m1",
        "timestamp": "2025-01-01T00:00:00Z",
        "userId": "u1",
        "event": "Task Completed",
    }
    (root / "events" / "p.jsonl").write_text(json.dumps(message) + "\n")
    (root / "crm").mkdir()
    (root / "crm" / "accounts.csv").write_text(accounts)
    (root / "crm" / "opportunities.csv").write_text(opportunities)


@pytest.fixture
def ingested(tmp_path):
    from pqa.config import load_config

    write_world(tmp_path / "data")
    report = ingest(tmp_path / "data", load_config(), tmp_path / "out", now=NOW)
    return report, tmp_path / "out"


def test_crm_accounts_keep_domain_employees_and_industry(ingested):
    _, out = ingested
    accounts = pq.read_table(out / "crm_accounts.parquet").to_pydict()

    assert accounts == {
        "crm_account_id": ["A1", "A2"],
        "domain": ["acme.io", "beta.com"],
        "employees": [1200.0, None],
        "industry": ["Software", None],
    }


def test_opportunities_are_typed_and_joined_to_the_account_domain(ingested):
    _, out = ingested
    opportunities = pd.read_parquet(out / "opportunities.parquet").set_index("opportunity_id")

    assert list(opportunities.index) == ["O1", "O2"]
    won = opportunities.loc["O1"]
    assert (won["domain"], won["amount"], won["is_closed"], won["is_won"]) == (
        "acme.io",
        25000.5,
        True,
        True,
    )
    assert won["close_date"] == pd.Timestamp("2025-03-15", tz="UTC")
    lost = opportunities.loc["O2"]
    assert lost["close_date"] == pd.Timestamp("2025-02-01T08:00:00", tz="UTC")
    assert pd.isna(lost["created_date"])
    assert (lost["is_closed"], lost["is_won"]) == (True, False)
    assert pd.isna(lost["type"])


def test_bad_crm_rows_are_quarantined_and_counted(ingested):
    report, out = ingested
    rows = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]

    assert [(r["file"], r["line"], r["reason"]) for r in rows] == [
        ("crm/accounts.csv", 4, "missing_website"),
        ("crm/accounts.csv", 5, "duplicate_id"),
        ("crm/accounts.csv", 6, "bad_employees"),
        ("crm/opportunities.csv", 4, "unknown_account"),
        ("crm/opportunities.csv", 5, "bad_amount"),
        ("crm/opportunities.csv", 6, "bad_close_date"),
        ("crm/opportunities.csv", 7, "bad_boolean"),
    ]
    # 1 event + 5 accounts + 6 opportunities; kept: 1 event, 2 accounts, 2 opportunities
    assert (report.input_records, report.accepted, report.quarantined) == (12, 5, 7)


@pytest.mark.parametrize(
    ("file", "header", "column"),
    [
        ("accounts.csv", "Id,Name,NumberOfEmployees,Industry\n", "Website"),
        ("opportunities.csv", "Id,AccountId,Name,StageName,CloseDate\n", "Amount"),
    ],
    ids=["account-website", "opportunity-amount"],
)
def test_missing_crm_column_is_named_with_its_file(tmp_path, file, header, column):
    from pqa.config import load_config

    write_world(tmp_path / "data")
    (tmp_path / "data" / "crm" / file).write_text(header)

    with pytest.raises(ValueError, match=rf"{file} has no column '{column}'"):
        ingest(tmp_path / "data", load_config(), tmp_path / "out", now=NOW)
    assert not (tmp_path / "out").exists()


def test_data_without_crm_folder_gives_empty_crm_tables(tmp_path):
    from pqa.config import load_config

    write_world(tmp_path / "data")
    for name in ("accounts.csv", "opportunities.csv"):
        (tmp_path / "data" / "crm" / name).unlink()

    report = ingest(tmp_path / "data", load_config(), tmp_path / "out", now=NOW)

    assert pd.read_parquet(tmp_path / "out" / "crm_accounts.parquet").empty
    assert pd.read_parquet(tmp_path / "out" / "opportunities.parquet").empty
    assert report.to_dict()["crm_accepted"] == {"accounts": 0, "opportunities": 0}
