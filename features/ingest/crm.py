"""Salesforce CSV exports to the ``crm_accounts`` and ``opportunities`` tables.

``crm/accounts.csv`` needs the columns Id, Name, Website, NumberOfEmployees, Industry;
``crm/opportunities.csv`` needs Id, AccountId, StageName, Amount, CloseDate, CreatedDate,
IsClosed, IsWon, Type. Extra columns are ignored. A row that cannot be used is rejected
with a reason (and counted in the ingest report):

- accounts: ``missing_id``, ``duplicate_id``, ``missing_website``, ``bad_employees``;
- opportunities: ``missing_id``, ``duplicate_id``, ``unknown_account`` (AccountId not
  among the kept accounts), ``bad_amount``, ``bad_close_date``, ``bad_created_date``,
  ``bad_boolean`` (IsClosed / IsWon not true/false/1/0).

Dates are read as UTC (a bare date is its UTC midnight). An empty NumberOfEmployees,
Industry, Type or CreatedDate is a null value, not an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.ingest.normalize import normalize_domain
from features.ingest.privacy import mask_emails
from pqa.contract import CRM_ACCOUNTS_SCHEMA, OPPORTUNITIES_SCHEMA

ACCOUNT_COLUMNS = ("Id", "Name", "Website", "NumberOfEmployees", "Industry")
OPPORTUNITY_COLUMNS = ("Id", "AccountId", "StageName", "Amount", "CloseDate", "CreatedDate")
OPPORTUNITY_COLUMNS += ("IsClosed", "IsWon", "Type")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class CrmRejection:
    file: str
    line: int
    reason: str
    raw: str


@dataclass(frozen=True)
class CrmTables:
    """Parsed CRM tables, the rows that were rejected, and how many rows were read."""

    accounts: pa.Table
    opportunities: pa.Table
    rejections: list[CrmRejection]
    records: int


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(repr(c) for c in missing)}; a Salesforce "
            f"export needs {', '.join(required)} (found: {', '.join(frame.columns)})"
        )
    return frame.apply(lambda column: column.str.strip())


def _first_reason(frame: pd.DataFrame, checks: list[tuple[str, pd.Series]]) -> pd.Series:
    reason = pd.Series(pd.NA, index=frame.index, dtype="object")
    for name, failed in checks:
        reason = reason.where(reason.notna() | ~failed.to_numpy(), name)
    return reason


def _number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; return (values, failed) where an empty cell is null, not failed."""
    parsed = pd.to_numeric(values.str.replace(",", "", regex=False), errors="coerce")
    failed = parsed.isna() & values.ne("")
    return parsed.astype("float64"), failed


def _dates(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse dates as UTC; return (naive UTC datetime64[us] values, failed)."""
    parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    naive = parsed.dt.tz_convert(None).astype("datetime64[us]")
    return naive, parsed.isna() & values.ne("")


def _timestamps(values: pd.Series) -> pa.Array:
    array = pa.array(values.to_numpy(), pa.timestamp("us"), from_pandas=True)
    return array.cast(OPPORTUNITIES_SCHEMA.field("close_date").type)


def _boolean(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    lowered = values.str.lower()
    return lowered.isin(_TRUE), ~(lowered.isin(_TRUE) | lowered.isin(_FALSE))


def _rejections(frame: pd.DataFrame, reason: pd.Series, file: str) -> list[CrmRejection]:
    rows = frame[reason.notna()]
    # line 1 is the header; data row i (0-based) is on line i + 2 for single-line cells
    return [
        CrmRejection(file, int(index) + 2, reason[index], mask_emails(",".join(row))[:300])
        for index, row in zip(rows.index, rows.itertuples(index=False), strict=True)
    ]


def parse_accounts(frame: pd.DataFrame, file: str = "crm/accounts.csv"):
    """Salesforce Account rows -> (crm_accounts table, rejections)."""
    domain = pd.Series(
        normalize_domain(pa.array(frame["Website"], pa.string())).to_pylist(),
        index=frame.index,
        dtype="object",
    )
    employees, bad_employees = _number(frame["NumberOfEmployees"])
    reason = _first_reason(
        frame,
        [
            ("missing_id", frame["Id"].eq("")),
            ("duplicate_id", frame["Id"].duplicated() & frame["Id"].ne("")),
            ("missing_website", domain.isna()),
            ("bad_employees", bad_employees),
        ],
    )
    keep = reason.isna().to_numpy()
    table = pa.table(
        {
            "crm_account_id": pa.array(frame["Id"][keep], pa.string()),
            "domain": pa.array(domain[keep], pa.string()),
            "employees": pa.array(employees[keep], pa.float64(), from_pandas=True),
            "industry": pa.array(frame["Industry"][keep].replace("", None), pa.string()),
        },
        schema=CRM_ACCOUNTS_SCHEMA,
    )
    return table.sort_by("crm_account_id"), _rejections(frame, reason, file)


def parse_opportunities(
    frame: pd.DataFrame, accounts: pa.Table, file: str = "crm/opportunities.csv"
):
    """Salesforce Opportunity rows -> (opportunities table, rejections)."""
    domains = dict(
        zip(
            accounts.column("crm_account_id").to_pylist(),
            accounts.column("domain").to_pylist(),
            strict=True,
        )
    )
    amount, bad_amount = _number(frame["Amount"])
    close, bad_close = _dates(frame["CloseDate"])
    created, bad_created = _dates(frame["CreatedDate"])
    is_closed, bad_closed = _boolean(frame["IsClosed"])
    is_won, bad_won = _boolean(frame["IsWon"])
    reason = _first_reason(
        frame,
        [
            ("missing_id", frame["Id"].eq("")),
            ("duplicate_id", frame["Id"].duplicated() & frame["Id"].ne("")),
            ("unknown_account", ~frame["AccountId"].isin(list(domains))),
            ("bad_amount", bad_amount | frame["Amount"].eq("")),
            ("bad_close_date", bad_close | frame["CloseDate"].eq("")),
            ("bad_created_date", bad_created),
            ("bad_boolean", bad_closed | bad_won),
        ],
    )
    keep = reason.isna().to_numpy()
    kept = frame[keep]
    table = pa.table(
        {
            "opportunity_id": pa.array(kept["Id"], pa.string()),
            "crm_account_id": pa.array(kept["AccountId"], pa.string()),
            "domain": pa.array(kept["AccountId"].map(domains), pa.string()),
            "stage": pa.array(kept["StageName"].replace("", None), pa.string()),
            "amount": pa.array(amount[keep], pa.float64(), from_pandas=True),
            "created_date": _timestamps(created[keep]),
            "close_date": _timestamps(close[keep]),
            "is_closed": pa.array(np.asarray(is_closed[keep]), pa.bool_()),
            "is_won": pa.array(np.asarray(is_won[keep]), pa.bool_()),
            "type": pa.array(kept["Type"].replace("", None), pa.string()),
        },
        schema=OPPORTUNITIES_SCHEMA,
    )
    return table.sort_by("opportunity_id"), _rejections(frame, reason, file)


def read_crm(data_dir: Path) -> CrmTables:
    """Read ``data_dir/crm/accounts.csv`` and ``opportunities.csv``; empty tables if absent.

    Raises
    ------
    ValueError
        When a file lacks a required column (the message names the column and file).
    """
    crm = data_dir / "crm"
    accounts_path, opportunities_path = crm / "accounts.csv", crm / "opportunities.csv"
    accounts = CRM_ACCOUNTS_SCHEMA.empty_table()
    opportunities = OPPORTUNITIES_SCHEMA.empty_table()
    rejections: list[CrmRejection] = []
    records = 0
    if accounts_path.exists():
        frame = _read_csv(accounts_path, ACCOUNT_COLUMNS)
        records += len(frame)
        accounts, rejected = parse_accounts(frame)
        rejections += rejected
    if opportunities_path.exists():
        frame = _read_csv(opportunities_path, OPPORTUNITY_COLUMNS)
        records += len(frame)
        opportunities, rejected = parse_opportunities(frame, accounts)
        rejections += rejected
    return CrmTables(accounts, opportunities, rejections, records)


def crm_from_records(rows: list[dict]) -> pa.Table:
    """crm_accounts from in-memory rows, either Salesforce-shaped (``Id``, ``Website``,
    ``NumberOfEmployees``, ``Industry``) or already in the contract's columns."""
    if rows and "crm_account_id" in rows[0]:
        return pa.Table.from_pylist(
            [{n: r.get(n) for n in CRM_ACCOUNTS_SCHEMA.names} for r in rows],
            schema=CRM_ACCOUNTS_SCHEMA,
        )
    frame = pd.DataFrame(
        [{c: "" if r.get(c) is None else str(r.get(c)) for c in ACCOUNT_COLUMNS} for r in rows],
        columns=list(ACCOUNT_COLUMNS),
        dtype=str,
    )
    table, _ = parse_accounts(frame, file="(in memory)")
    return table
