"""The Salesforce export: CRM accounts for a subset of companies and their opportunities.

Every company that converts has a CRM account and a won opportunity of at least the
config's minimum amount, created two to six months before it closes. Noise comes from
closed-lost deals, small won deals below the minimum and open opportunities.
"""

from __future__ import annotations

import numpy as np

from pqa.config import Config
from pqa.simulator.world import Calendar, Company

ACCOUNT_COLUMNS = ("Id", "Name", "Website", "NumberOfEmployees", "Industry")
OPPORTUNITY_COLUMNS = (
    "Id",
    "AccountId",
    "Name",
    "StageName",
    "Amount",
    "CloseDate",
    "CreatedDate",
    "IsClosed",
    "IsWon",
    "Type",
)
_OPEN_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")


def company_crm(
    company: Company, cal: Calendar, config: Config, seed: int
) -> tuple[list[tuple], list[tuple]]:
    """CRM account rows and opportunity rows for one company.

    Parameters
    ----------
    company : Company
        The company, with its conversion already drawn.
    cal : Calendar
        The simulated history; nothing closes after its end.
    config : Config
        Supplies the conversion minimum amount and opportunity types.
    seed : int
        World seed; the CRM uses the stream ``default_rng([seed, index, 2])``.

    Returns
    -------
    tuple of (list of tuple, list of tuple)
        Rows in the order of ``ACCOUNT_COLUMNS`` and ``OPPORTUNITY_COLUMNS``.
    """
    if company.personal:
        return [], []
    rng = np.random.default_rng([seed, company.index, 2])
    converts = company.close_day is not None and company.close_day - 60 < cal.end_day
    chance = 0.2 + 0.25 * (company.employees >= 201) + 0.1 * (company.motion is not None)
    if not converts and rng.random() >= chance:
        return [], []

    account_id = f"001{company.index:012d}AAA"
    website = _website(rng, company.domain)
    employees = company.employees if rng.random() < 0.8 else ""
    industry = company.industry if rng.random() < 0.85 else ""
    accounts = [(account_id, company.name, website, employees, industry)]

    min_amount = config.conversion.min_amount
    types = config.conversion.opportunity_types
    enterprise_type = types[0] if types else "New Business"
    opps: list[tuple] = []

    def opp(name, stage, amount, close, created, closed, won, kind) -> None:
        serial = len(opps)
        opps.append(
            (
                f"006{company.index:012d}{serial:03d}",
                account_id,
                f"{company.name} - {name}",
                stage,
                f"{amount:.2f}",
                cal.day_to_date(close).isoformat(),
                cal.day_to_date(created).isoformat(),
                str(closed).lower(),
                str(won).lower(),
                kind,
            )
        )

    if company.close_day is not None:
        close = company.close_day
        created = close - rng.uniform(60, 183)
        amount = max(min_amount, 1.0) * rng.uniform(1.0, 2.0 + company.band)
        if close < cal.end_day:
            opp("Enterprise", "Closed Won", amount, close, created, True, True, enterprise_type)
        elif created < cal.end_day:
            stage = _OPEN_STAGES[rng.integers(2, len(_OPEN_STAGES))]
            opp("Enterprise", stage, amount, close, created, False, False, enterprise_type)

    first = company.signup + 30
    if rng.random() < 0.25 and first < cal.end_day - 10:
        close = rng.uniform(first, cal.end_day - 1)
        amount = max(min_amount, 1.0) * rng.uniform(0.6, 3.0)
        opp(
            "Enterprise",
            "Closed Lost",
            amount,
            close,
            close - rng.uniform(30, 150),
            True,
            False,
            enterprise_type,
        )
    if rng.random() < 0.15 and first < cal.end_day - 10:
        close = rng.uniform(first, cal.end_day - 1)
        amount = max(min_amount, 1.0) * rng.uniform(0.03, 0.6)
        if amount < min_amount:
            opp(
                "Team Upgrade",
                "Closed Won",
                amount,
                close,
                close - rng.uniform(5, 40),
                True,
                True,
                "Add-On",
            )
    if rng.random() < 0.1 and first < cal.end_day - 10:
        created = rng.uniform(max(first, cal.end_day - 120), cal.end_day - 1)
        stage = _OPEN_STAGES[rng.integers(len(_OPEN_STAGES))]
        amount = max(min_amount, 1.0) * rng.uniform(0.5, 2.5)
        opp(
            "Expansion",
            stage,
            amount,
            cal.end_day + rng.uniform(10, 120),
            created,
            False,
            False,
            enterprise_type,
        )
    return accounts, opps


def _website(rng: np.random.Generator, domain: str | None) -> str:
    style = rng.integers(4)
    return (f"https://www.{domain}", domain, f"http://{domain}/", f"www.{domain}")[style]
