"""Companies, their latent trajectories and the conversion process with its exact truth.

Everything latent about a company is drawn up front from its own random stream
(``numpy.random.default_rng([seed, company_index])``), so the world does not depend on
how companies are chunked. The monthly conversion hazard is a deterministic function
of the company's observable state ``LAG_DAYS`` before the month starts (the sales cycle),
which keeps the true probability over a 90-day horizon a function of what the events
of the last three months show.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

SIZE_BANDS = ("1-10", "11-50", "51-200", "201-1000", "1001+")
_BAND_LIMITS = ((1, 10), (11, 50), (51, 200), (201, 1000), (1001, 20000))
_BAND_SHARES = (0.22, 0.34, 0.24, 0.14, 0.06)
_TEAM_MEDIAN = (2.0, 3.5, 5.0, 7.0, 9.0)
_SPIKE_PROBABILITY = (0.0, 0.04, 0.12, 0.2, 0.25)
_MOTION_PROBABILITY = (0.03, 0.12, 0.2, 0.3, 0.35)
_MAX_WORKSPACES = (1, 2, 2, 3, 4)
SENIORITIES = ("ic", "manager", "director", "vp", "c-level")
_SENIORITY_SHARES = (0.62, 0.2, 0.1, 0.05, 0.03)
DEPARTMENTS = (
    "engineering",
    "product",
    "marketing",
    "sales",
    "operations",
    "finance",
    "design",
    "people",
)
INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Professional Services",
    "Logistics",
    "Nonprofit",
)
_REGULATED = {"Financial Services", "Healthcare"}
_NAME_STEMS = (
    "acme", "nova", "blue", "bright", "cloud", "data", "green", "iron", "lumen", "north",
    "peak", "quanta", "rapid", "silver", "terra", "vertex", "zen", "atlas", "orbit", "pixel",
)  # fmt: skip
_NAME_ENDINGS = (
    "labs", "works", "soft", "ly", "hq", "tech", "systems", "flow", "base", "stack", "grid",
    "logic", "wave", "forge",
)  # fmt: skip
_TLDS = ("io", "com", "co", "ai", "dev", "net", "app")
TIMEZONES = (0, 60, 120, -300, -240, -420, -480, 330, 540, 600)
"""UTC offsets in minutes that users' clocks report."""

PERSONAL_SHARE = 0.07
"""Share of companies that are personal-email workspaces (freelancers, side projects)."""

PRE_EXISTING_SHARE = 0.25
PRE_EXISTING_DAYS = 240
"""Companies that signed up up to this many days before the history starts: their users
show up (identify and group calls) on their first visit in the first days of the history."""

LAG_DAYS = 62
"""The hazard of closing in a month depends on the state this many days before it starts."""

INTEREST_ROLES = ("pricing", "security", "legal", "enterprise")


@dataclass(frozen=True)
class Calendar:
    """Day offsets of the simulated history, counted from ``start`` at 00:00 UTC.

    Attributes
    ----------
    start : date
        First day of the history.
    end_day : int
        Days from ``start`` to the end of the history (exclusive).
    horizon_days : int
        Conversion horizon of the truth.
    month_starts : ndarray of shape (n_months + 1,)
        Day offsets of calendar month boundaries; month ``k`` is
        ``[month_starts[k], month_starts[k + 1])`` (the first one starts at ``start``).
        The months run past the end so that every horizon is covered.
    """

    start: date
    end_day: int
    horizon_days: int
    month_starts: np.ndarray

    @classmethod
    def build(cls, start: date, months: int, horizon_days: int) -> Calendar:
        end = _add_months(start, months)
        end_day = (end - start).days
        bounds = [0]
        cursor = date(start.year, start.month, 1)
        while bounds[-1] < end_day + horizon_days + 31:
            cursor = _add_months(cursor, 1)
            bounds.append((cursor - start).days)
        return cls(start, end_day, horizon_days, np.asarray(bounds, dtype=np.int64))

    @property
    def n_months(self) -> int:
        return len(self.month_starts) - 1

    def as_of_months(self) -> np.ndarray:
        """Indices of the months whose start is a truth as-of date (after start, before end)."""
        starts = self.month_starts[:-1]
        return np.flatnonzero((starts > 0) & (starts < self.end_day))

    def day_to_date(self, day: float) -> date:
        return self.start + timedelta(days=int(np.floor(day)))


def _add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    last = _calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass
class Users:
    """One company's users as parallel arrays (index = user number within the company)."""

    join: np.ndarray
    seen: np.ndarray
    churn: np.ndarray
    active_p: np.ndarray
    value_mult: np.ndarray
    workspace: np.ndarray
    personal: np.ndarray
    founder: np.ndarray
    spike: np.ndarray
    seniority: np.ndarray
    department: np.ndarray
    answered: np.ndarray
    has_title: np.ndarray
    tz_minutes: np.ndarray

    def __len__(self) -> int:
        return len(self.join)

    def present(self, times: np.ndarray) -> np.ndarray:
        """Boolean matrix (times x users): the user has joined and not churned."""
        times = np.asarray(times, dtype=float)[:, None]
        return (self.join[None, :] < times) & (self.churn[None, :] > times)


@dataclass
class Company:
    """One company (or one personal-email workspace) with all its latent state."""

    index: int
    personal: bool
    name: str
    domain: str | None
    band: int
    employees: int
    industry: str
    team_plan: bool
    signup: float
    workspace_created: np.ndarray
    users: Users
    spikes: np.ndarray
    admin_changes: np.ndarray
    interest: dict[str, np.ndarray]
    value_rate: float
    collab_rate: float
    motion: float | None
    hazards: np.ndarray = field(default_factory=lambda: np.zeros(0))
    conversion_month: int | None = None
    close_day: int | None = None

    @property
    def workspace_ids(self) -> list[str]:
        return [f"ws_{self.index:06x}{w:x}" for w in range(len(self.workspace_created))]

    @property
    def first_seen(self) -> float:
        """Day of the company's first identify and group calls in the history."""
        return float(self.users.seen.min())

    @property
    def account_id(self) -> str:
        return self.domain if self.domain else f"workspace:{self.workspace_ids[0]}"


def draw_company(seed: int, index: int, cal: Calendar, personal_allowed: bool) -> Company:
    """Draw one company's latent trajectories, hazards and conversion.

    Parameters
    ----------
    seed : int
        World seed.
    index : int
        Company number; together with ``seed`` it seeds the company's random stream.
    cal : Calendar
        The simulated history.
    personal_allowed : bool
        Whether personal-email users can exist (the config names personal domains).

    Returns
    -------
    Company
        The company with hazards per month and, if it converts, the month and close day.
    """
    rng = np.random.default_rng([seed, index])
    personal = personal_allowed and rng.random() < PERSONAL_SHARE
    company = _draw_personal(rng, index, cal) if personal else _draw_business(rng, index, cal)
    company.hazards = monthly_hazards(company, cal)
    _draw_conversion(rng, company, cal)
    return company


def _company_name(rng: np.random.Generator, index: int) -> tuple[str, str]:
    stem = _NAME_STEMS[rng.integers(len(_NAME_STEMS))]
    ending = _NAME_ENDINGS[rng.integers(len(_NAME_ENDINGS))]
    tld = _TLDS[rng.integers(len(_TLDS))]
    suffix = np.base_repr(index, 36).lower()
    return f"{stem.title()}{ending} {suffix.upper()}", f"{stem}{ending}-{suffix}.{tld}"


def _draw_business(rng: np.random.Generator, index: int, cal: Calendar) -> Company:
    name, domain = _company_name(rng, index)
    band = int(rng.choice(len(SIZE_BANDS), p=_BAND_SHARES))
    low, high = _BAND_LIMITS[band]
    employees = int(np.exp(rng.uniform(np.log(low), np.log(high + 1))))
    industry = INDUSTRIES[rng.integers(len(INDUSTRIES))]
    signup = _draw_signup(rng, cal)

    n_workspaces = 1 + int(rng.binomial(_MAX_WORKSPACES[band] - 1, 0.45))
    created = np.sort(signup + np.r_[0.0, rng.uniform(20, 300, n_workspaces - 1)])

    team = max(1, min(employees, int(round(rng.lognormal(np.log(_TEAM_MEDIAN[band]), 0.7)))))
    ramp = rng.uniform(30, 300)
    joins = signup + ramp * rng.random(max(team - n_workspaces, 0)) ** 1.5
    spikes = np.zeros(0)
    spike_joins = np.zeros(0)
    if rng.random() < _SPIKE_PROBABILITY[band]:
        day = np.floor(rng.uniform(signup + 20, cal.end_day + 60))
        spikes = np.array([day])
        spike_joins = day + rng.uniform(0.35, 0.65, int(rng.integers(15, 41)))
    join = np.r_[created, joins, spike_joins]
    kind = np.r_[np.zeros(n_workspaces), np.ones(len(joins)), np.full(len(spike_joins), 2)]
    users = _draw_users(rng, join, kind, created, allow_personal=True, band=band)

    motion = None
    interest = {role: np.zeros((0, 2)) for role in INTEREST_ROLES}
    admin = []
    regulated = industry in _REGULATED
    if rng.random() < _MOTION_PROBABILITY[band] * (1.5 if team >= 7 else 1.0):
        motion = float(rng.uniform(signup + 30, cal.end_day + 90))
        plans = {
            "security": (0.85 if n_workspaces >= 2 or regulated else 0.65, rng.normal(0, 10)),
            "legal": (0.5, rng.uniform(0, 30)),
            "pricing": (0.8, -rng.uniform(0, 20)),
            "enterprise": (0.35, rng.uniform(-10, 20)),
        }
        for role, (chance, offset) in plans.items():
            if rng.random() < chance:
                interest[role] = _interval(rng, max(signup, motion + offset))
        if rng.random() < 0.55:
            admin.append(max(signup + 1, motion + rng.uniform(-10, 40)))
    noise = {"security": 0.12, "legal": 0.08, "pricing": 0.3, "enterprise": 0.05}
    for role, chance in noise.items():
        if rng.random() < chance * (1.5 if regulated and role == "security" else 1.0):
            onset = rng.uniform(signup, cal.end_day + 90)
            interest[role] = np.vstack([interest[role], _interval(rng, onset)])
    admin.extend(signup + rng.uniform(1, 500, rng.poisson(0.25)))

    return Company(
        index=index,
        personal=False,
        name=name,
        domain=domain,
        band=band,
        employees=employees,
        industry=industry,
        team_plan=bool(rng.random() < 0.25),
        signup=signup,
        workspace_created=created,
        users=users,
        spikes=spikes,
        admin_changes=np.sort(np.asarray(admin, dtype=float)),
        interest=interest,
        value_rate=float(rng.lognormal(np.log(0.7), 0.6)),
        collab_rate=float(rng.lognormal(np.log(0.2), 0.5)),
        motion=motion,
    )


def _draw_personal(rng: np.random.Generator, index: int, cal: Calendar) -> Company:
    signup = _draw_signup(rng, cal)
    created = np.array([signup])
    team = int(rng.integers(1, 4))
    join = np.r_[created, signup + rng.uniform(1, 120, team - 1)]
    kind = np.r_[0.0, np.ones(team - 1)]
    users = _draw_users(rng, join, kind, created, allow_personal=True, band=0)
    users.personal[:] = True
    interest = {role: np.zeros((0, 2)) for role in INTEREST_ROLES}
    if rng.random() < 0.3:
        interest["pricing"] = _interval(rng, rng.uniform(signup, cal.end_day))
    return Company(
        index=index,
        personal=True,
        name="",
        domain=None,
        band=0,
        employees=team,
        industry=INDUSTRIES[rng.integers(len(INDUSTRIES))],
        team_plan=False,
        signup=signup,
        workspace_created=created,
        users=users,
        spikes=np.zeros(0),
        admin_changes=np.zeros(0),
        interest=interest,
        value_rate=float(rng.lognormal(np.log(0.7), 0.5)),
        collab_rate=0.05,
        motion=None,
    )


def _draw_signup(rng: np.random.Generator, cal: Calendar) -> float:
    """Signup day; a share of companies were already users before the history starts."""
    if rng.random() < PRE_EXISTING_SHARE:
        return float(rng.uniform(-PRE_EXISTING_DAYS, 0))
    return float(rng.uniform(0, cal.end_day - 14))


def _interval(rng: np.random.Generator, onset: float) -> np.ndarray:
    return np.array([[onset, onset + rng.uniform(60, 180)]])


def _draw_users(
    rng: np.random.Generator,
    join: np.ndarray,
    kind: np.ndarray,
    created: np.ndarray,
    *,
    allow_personal: bool,
    band: int,
) -> Users:
    """Draw per-user traits; ``kind`` is 0 workspace founder, 1 gradual join, 2 spike."""
    n = len(join)
    founder = kind == 0
    spike = kind == 2
    workspace = np.zeros(n, dtype=np.int64)
    workspace[founder] = np.arange(founder.sum())
    for j in np.flatnonzero(kind == 1):
        workspace[j] = rng.integers(max(1, int((created < join[j]).sum())))
    if spike.any():
        workspace[spike] = rng.integers(max(1, int((created < join[spike][0]).sum())))

    churns = rng.random(n) < 0.3
    churn = np.where(churns, join + rng.exponential(160, n) + 14, np.inf)
    engagement = rng.uniform(0.5, 1.2)
    active_p = np.clip(rng.beta(2.0, 5.0, n) * engagement + 0.05, 0.05, 0.95)
    seniority = rng.choice(len(SENIORITIES), n, p=_SENIORITY_SHARES)
    if band <= 1 and rng.random() < 0.5:
        seniority[0] = 4
    home_tz = TIMEZONES[rng.integers(len(TIMEZONES))]
    tz = np.where(rng.random(n) < 0.15, rng.choice(TIMEZONES, n), home_tz)
    share = rng.beta(1.0, 7.0) if allow_personal else 0.0
    personal = (rng.random(n) < share) & ~founder
    seen = np.where(join >= 0, join, rng.uniform(0, 5, n))
    seen[churn <= 0] = np.inf
    # The first member each workspace shows in the history has a corporate email, so the
    # workspace resolves to the company's domain from its first group call on.
    for w in np.unique(workspace):
        members = np.flatnonzero(workspace == w)
        personal[members[np.argmin(seen[members])]] = False
    return Users(
        join=join.astype(float),
        seen=seen,
        churn=churn,
        active_p=active_p,
        value_mult=rng.gamma(2.0, 0.5, n),
        workspace=workspace,
        personal=personal,
        founder=founder,
        spike=spike,
        seniority=seniority,
        department=rng.integers(len(DEPARTMENTS), size=n),
        answered=rng.random(n) < 0.7,
        has_title=(seniority >= 2) | (rng.random(n) < 0.8),
        tz_minutes=tz.astype(np.int64),
    )


def state_at(company: Company, times: np.ndarray) -> dict[str, np.ndarray]:
    """The company's observable state at each time in ``times`` (days from start).

    Returns
    -------
    dict of str to ndarray
        ``users`` present, expected ``value_volume`` per 28 days, ``decision_maker``,
        ``spike`` (a day with 15+ joins in the 30 days before), ``admin_change`` (in the
        30 days before), ``workspaces`` created, and for each intent role whether the
        interest is active.
    """
    times = np.asarray(times, dtype=float)
    users = company.users
    present = users.present(times)
    effective_days = 20 + 8 * 0.25
    per_user = users.active_p * users.value_mult * company.value_rate * effective_days
    state = {
        "users": present.sum(axis=1),
        "value_volume": present.astype(float) @ per_user,
        "decision_maker": (present & (users.seniority >= 2)[None, :]).any(axis=1),
        "spike": _recent(company.spikes, times, 30),
        "admin_change": _recent(company.admin_changes, times, 30),
        "workspaces": (company.workspace_created[None, :] < times[:, None]).sum(axis=1),
    }
    for role, spans in company.interest.items():
        state[role] = (
            (spans[:, 0][None, :] <= times[:, None]) & (spans[:, 1][None, :] > times[:, None])
        ).any(axis=1)
    return state


def _recent(days: np.ndarray, times: np.ndarray, window: float) -> np.ndarray:
    return ((days[None, :] < times[:, None]) & (days[None, :] >= times[:, None] - window)).any(
        axis=1
    )


HAZARD_INTERCEPT = -6.8


def hazard_from_state(state: dict[str, np.ndarray], employees: int, team_plan: bool) -> np.ndarray:
    """Monthly probability of closing an enterprise deal, given the state before the month.

    The effects interact: a velocity spike counts only with a decision maker present,
    security interest counts far more with several silos, and heavy usage matters most
    in large companies. Companies with no user yet have no hazard.
    """
    users = state["users"].astype(float)
    rule_of_seven = users >= 7
    heavy_value = state["value_volume"] >= 400
    large = employees >= 201
    tiny = employees <= 10
    silos = state["workspaces"] >= 2
    dm = state["decision_maker"]
    z = (
        HAZARD_INTERCEPT
        + 0.35 * np.log1p(users)
        + 0.8 * rule_of_seven
        + 0.25 * np.log1p(state["value_volume"] / 40.0)
        + 0.5 * heavy_value
        + 0.9 * (large & rule_of_seven)
        - 1.8 * tiny
        + 0.4 * dm
        + 1.4 * (state["spike"] & dm)
        + 0.4 * state["security"]
        + 1.3 * (state["security"] & silos)
        + 0.6 * state["legal"]
        + 0.5 * state["pricing"]
        + 0.4 * state["enterprise"]
        + 0.8 * state["admin_change"]
        + 0.3 * silos
        + 0.3 * team_plan
    )
    return np.where(users > 0, 1.0 / (1.0 + np.exp(-z)), 0.0)


def monthly_hazards(company: Company, cal: Calendar) -> np.ndarray:
    """Hazard per calendar month of ``cal`` (zero for personal-email workspaces)."""
    if company.personal:
        return np.zeros(cal.n_months)
    times = cal.month_starts[:-1].astype(float) - LAG_DAYS
    state = state_at(company, times)
    return hazard_from_state(state, company.employees, company.team_plan)


def _draw_conversion(rng: np.random.Generator, company: Company, cal: Calendar) -> None:
    """Convert in month k with probability h_k; the close day is uniform in that month."""
    draws = rng.random(cal.n_months)
    hits = np.flatnonzero(draws < company.hazards)
    if len(hits) == 0:
        return
    month = int(hits[0])
    first = max(int(cal.month_starts[month]), 0)
    last = int(cal.month_starts[month + 1])
    company.conversion_month = month
    company.close_day = int(rng.integers(first, last))


def truth_rows(company: Company, cal: Calendar) -> list[tuple[str, int, float, bool]]:
    """Exact conversion probabilities at each month start the company is scored at.

    Returns
    -------
    list of tuple
        ``(account_id, as_of_day, probability, horizon_complete)`` for every as-of month
        start after signup and before the company's conversion.
    """
    rows = []
    starts = cal.month_starts
    horizon = cal.horizon_days
    for m in cal.as_of_months():
        as_of = int(starts[m])
        if company.first_seen >= as_of:
            continue
        if company.close_day is not None and company.close_day < as_of:
            continue
        rows.append(
            (
                company.account_id,
                as_of,
                window_probability(company.hazards, starts, as_of, horizon),
                bool(as_of + horizon <= cal.end_day),
            )
        )
    return rows


def window_probability(
    hazards: np.ndarray, month_starts: np.ndarray, as_of: int, horizon: int
) -> float:
    """P(close day in [as_of, as_of + horizon)) given no conversion before ``as_of``.

    Month ``k`` converts with probability ``hazards[k]`` and a close day uniform over its
    days, so a month covered for a fraction ``f`` of its days contributes ``h * f``.
    """
    lo = np.maximum(month_starts[:-1], as_of)
    hi = np.minimum(month_starts[1:], as_of + horizon)
    covered = np.clip(hi - lo, 0, None) / np.diff(month_starts)
    return float(1.0 - np.prod(1.0 - hazards * covered))
