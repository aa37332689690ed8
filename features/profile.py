"""Profile features: who the account's users are and what the company looks like.

User traits come from each user's latest ``identify`` call before the as-of date that
carried the trait; workspace traits from the latest ``group`` call that carried them.
A user belongs to an account when seen in it before the as-of date (a group call to
one of its workspaces, or activity there).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from features.snapshots import Snapshot

SENIORITY_LEVELS = {"unknown": 0, "ic": 1, "manager": 2, "director": 3, "vp": 4, "c-level": 5}
DECISION_MAKER_RANK = SENIORITY_LEVELS["director"]

_SENIORITY_PATTERNS = (  # first match wins: "Vice President" is a VP before "President"
    ("vp", re.compile(r"\b(vp|svp|evp|avp|vice[ -]president)\b")),
    (
        "c-level",
        re.compile(
            r"\b(c-level|c-suite|ceo|cto|cfo|coo|cio|ciso|cmo|cpo|chief|"
            r"founder|co-founder|cofounder|president)\b"
        ),
    ),
    ("director", re.compile(r"\b(director|head of|head)\b")),
    ("manager", re.compile(r"\b(manager|lead|team lead)\b")),
)

SIZE_BANDS = ((10, "1-10"), (50, "11-50"), (200, "51-200"), (1000, "201-1000"))
LARGEST_BAND = "1001+"
ONBOARDING_ANSWERS = ("company_size", "department", "seniority", "use_case")
USER_TRAITS = ("title", *ONBOARDING_ANSWERS)


def seniority_of(text: str | None) -> str:
    """Seniority level named by an onboarding answer or a job title.

    >>> seniority_of("VP Engineering"), seniority_of("Head of Data"), seniority_of("CTO")
    ('vp', 'director', 'c-level')
    >>> seniority_of("Engineering Manager"), seniority_of("Data analyst"), seniority_of(None)
    ('manager', 'ic', 'unknown')
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return "unknown"
    lowered = str(text).strip().lower()
    if lowered in SENIORITY_LEVELS:
        return lowered
    for level, pattern in _SENIORITY_PATTERNS:
        if pattern.search(lowered):
            return level
    return "ic"


def size_midpoint(answer: str | None) -> float:
    """Employees implied by a company-size answer: ``"51-200"`` -> 125.5, ``"1001+"`` -> 1501.5.

    An open band ``"N+"`` is read as ``N`` to ``2N``; an unreadable answer is NaN.
    """
    if answer is None or not isinstance(answer, str):
        return np.nan
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", answer.replace(",", ""))]
    if len(numbers) >= 2:
        return (numbers[0] + numbers[1]) / 2.0
    if len(numbers) == 1:
        return numbers[0] * 1.5 if "+" in answer else numbers[0]
    return np.nan


def size_band(employees: np.ndarray) -> np.ndarray:
    """Company size band of each employee count; ``"unknown"`` for NaN."""
    employees = np.asarray(employees, dtype=np.float64)
    bands = np.full(len(employees), "unknown", dtype=object)
    bands[employees > SIZE_BANDS[-1][0]] = LARGEST_BAND
    for upper, name in reversed(SIZE_BANDS):
        bands[employees <= upper] = name
    bands[np.isnan(employees)] = "unknown"
    return bands


def _map_distinct(values: pd.Series, function) -> pd.Series:
    """``values.map(function)``, calling ``function`` once per distinct value."""
    distinct = pd.unique(values.dropna().to_numpy(dtype=object))
    lookup = {value: function(value) for value in distinct}
    mapped = values.astype(object).map(lookup)
    return mapped.where(values.notna(), function(None))


def _latest_traits(
    frame: pd.DataFrame, key: str, traits: tuple[str, ...], as_of: pd.Timestamp
) -> pd.DataFrame:
    """Per ``key``, the latest non-null value of each trait among rows before ``as_of``.

    ``frame`` must be sorted by timestamp.
    """
    frame = frame[frame[key].notna() & (frame["timestamp"] < as_of)]
    return frame.groupby(key, sort=False)[list(traits)].last()


def user_traits(snapshot: Snapshot) -> pd.DataFrame:
    """Latest traits of the users, indexed by user code (one row per known user)."""
    if "user_traits" not in snapshot.cache:
        identities = snapshot.identities
        traits = _latest_traits(identities, "user", USER_TRAITS, snapshot.as_of)
        emails = identities[identities["email_domain"].notna()]
        email = _latest_traits(
            emails, "user", ("email_domain", "is_personal_domain"), snapshot.as_of
        )
        traits = traits.join(email, how="outer")
        snapshot.cache["user_traits"] = traits[traits.index >= 0]
    return snapshot.cache["user_traits"]


def workspace_traits(snapshot: Snapshot) -> pd.DataFrame:
    """``workspace_id, account, plan, employees, industry``: latest group traits before D."""
    if "workspace_traits" not in snapshot.cache:
        traits = _latest_traits(
            snapshot.groups,
            "workspace_id",
            ("plan", "employees", "industry"),
            snapshot.as_of,
        )
        accounts = snapshot.workspace_accounts
        found = traits.reindex(pd.Index(accounts["workspace_id"].astype(object)))
        merged = pd.concat([accounts.reset_index(drop=True), found.reset_index(drop=True)], axis=1)
        snapshot.cache["workspace_traits"] = merged
    return snapshot.cache["workspace_traits"]


def member_traits(snapshot: Snapshot) -> pd.DataFrame:
    """One row per (account, user) member with the user's traits (NaN when unknown)."""
    members = snapshot.members[["account", "user"]]
    return members.join(user_traits(snapshot), on="user")


def _mode(frame: pd.DataFrame, column: str, size: int) -> np.ndarray:
    """Most common non-null value of ``column`` per account (ties: alphabetical); None if none."""
    known = frame[column].notna().to_numpy()
    codes, names = pd.factorize(frame[column][known], sort=True)
    result = np.full(size, None, dtype=object)
    if len(codes) == 0:
        return result
    account = frame["account"].to_numpy()[known].astype(np.int64)
    pairs, counts = np.unique(account * len(names) + codes, return_counts=True)
    owner, value = pairs // len(names), pairs % len(names)
    # per account, the highest count first and, among equal counts, the first name
    order = np.lexsort((value, -counts, owner))
    first = order[np.concatenate([[True], owner[order][1:] != owner[order][:-1]])]
    result[owner[first]] = np.asarray(names, dtype=object)[value[first]]
    return result


def _crm(snapshot: Snapshot) -> pd.DataFrame:
    """CRM employees and industry per account id (the CRM account's website domain)."""
    if "crm" not in snapshot.cache:
        crm = snapshot.tables.crm_accounts
        crm = crm[crm["domain"].notna()]
        snapshot.cache["crm"] = crm.groupby("domain", sort=True).agg(
            employees=("employees", "max"), industry=("industry", "first")
        )
    return snapshot.cache["crm"]


def company_size(snapshot: Snapshot, members: pd.DataFrame) -> np.ndarray:
    """Employees: CRM, else the largest workspace trait, else the modal answer's midpoint."""
    accounts = pd.Index(snapshot.accounts)
    crm = _crm(snapshot)["employees"].reindex(accounts).to_numpy(np.float64)
    workspaces = workspace_traits(snapshot)
    trait = (
        workspaces.groupby("account")["employees"]
        .max()
        .reindex(np.arange(snapshot.size))
        .to_numpy(np.float64)
    )
    answered = _mode(members, "company_size", snapshot.size)
    answer = _map_distinct(pd.Series(answered, dtype=object), size_midpoint).to_numpy(np.float64)
    return np.where(np.isnan(crm), np.where(np.isnan(trait), answer, trait), crm)


def industry(snapshot: Snapshot) -> np.ndarray:
    """CRM industry, else the most common industry trait of the account's workspaces."""
    crm = _crm(snapshot)["industry"].reindex(pd.Index(snapshot.accounts)).to_numpy(dtype=object)
    trait = _mode(workspace_traits(snapshot), "industry", snapshot.size)
    chosen = np.where(pd.isna(crm), trait, crm)
    return np.where(pd.isna(chosen), "unknown", chosen).astype(object)


def compute(snapshot: Snapshot, columns: dict[str, object]) -> dict[str, np.ndarray]:
    """Return the profile columns for every account of ``snapshot``."""
    members = member_traits(snapshot)
    answer = _map_distinct(members["seniority"], seniority_of)
    from_title = _map_distinct(members["title"], seniority_of)
    level = answer.where(answer != "unknown", from_title)
    members = members.assign(rank=level.map(SENIORITY_LEVELS).astype(np.float64))
    rank = members.groupby("account")["rank"].max().reindex(np.arange(snapshot.size))
    rank = rank.fillna(0.0).to_numpy(np.float64)

    department = members[["account"]].assign(d=members["department"].str.strip().str.lower())
    departments = department.dropna().groupby("account")["d"].nunique()
    answered = members[list(ONBOARDING_ANSWERS)].notna().any(axis=1)
    rate = answered.groupby(members["account"]).mean()
    employees = company_size(snapshot, members)
    use_case = _mode(members, "use_case", snapshot.size)
    return {
        "employees": employees,
        "company_size_band": size_band(employees),
        "seniority_rank": rank,
        "has_decision_maker": rank >= DECISION_MAKER_RANK,
        "departments": departments.reindex(np.arange(snapshot.size)).fillna(0).to_numpy(float),
        "dominant_use_case": np.where(pd.isna(use_case), "unknown", use_case).astype(object),
        "onboarding_answer_rate": rate.reindex(np.arange(snapshot.size)).to_numpy(np.float64),
        "industry": industry(snapshot),
    }
