"""Segment Spec messages for one company: what its users do, day by day.

Track and page calls are generated as numpy columns (time, user, workspace, template)
and turned into JSON lines in bulk; the few identify and group calls, which carry
traits, are built as dictionaries and dumped with orjson.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from pqa.simulator.vocabulary import Vocabulary
from pqa.simulator.world import (
    DEPARTMENTS,
    SENIORITIES,
    SIZE_BANDS,
    Calendar,
    Company,
)

DAY_MS = 86_400_000

_FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Viktor",
    "Wen", "Yara", "Zoe",
)  # fmt: skip
_LAST_NAMES = (
    "Abbott", "Berg", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jensen", "Kim", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Usman", "Varga", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
_TITLES = {
    0: ("{dept} Specialist", "Senior {dept} Analyst", "{dept} Associate"),
    1: ("{dept} Manager", "Team Lead, {dept}"),
    2: ("Director of {dept}", "Senior Director, {dept}"),
    3: ("VP of {dept}", "Vice President, {dept}"),
    4: ("Chief Executive Officer", "CTO", "Co-founder & CEO", "Chief Operating Officer"),
}
_DEPT_TITLES = {
    "engineering": "Engineering",
    "product": "Product",
    "marketing": "Marketing",
    "sales": "Sales",
    "operations": "Operations",
    "finance": "Finance",
    "design": "Design",
    "people": "People",
}
_USE_CASES = ("project tracking", "reporting", "team collaboration", "planning", "client work")
_INTENT_RATES = {
    # page views per company-day: (background, while the interest is active)
    "pricing": (0.004, 0.25),
    "security": (0.002, 0.2),
    "legal": (0.0015, 0.15),
    "enterprise": (0.001, 0.12),
}
_APP_URL = "https://app.example.com"
TYPES = ("track", "page", "identify", "group")


@dataclass(frozen=True)
class Templates:
    """JSON fragments for every (type, name, properties) combination of track and page calls.

    A fragment is the middle of a message: ``"type":...,"event":...,"properties":{...}``.
    """

    fragments: list[str]
    kinds: np.ndarray
    codes: dict[tuple, int]

    @classmethod
    def build(cls, vocab: Vocabulary) -> Templates:
        fragments: list[str] = []
        kinds: list[int] = []
        codes: dict[tuple, int] = {}

        def add(key: tuple, kind: int, text: str) -> None:
            codes[key] = len(fragments)
            fragments.append(text)
            kinds.append(kind)

        names = {
            *vocab.value,
            *vocab.collaboration,
            *vocab.invite,
            *vocab.user_added,
            *vocab.neutral_events,
        }
        for name in sorted(names):
            add(("track", name), 0, f'"type":"track","event":{_j(name)},"properties":{{}}')
        for role in (*vocab.admin_roles, *vocab.other_roles):
            props = orjson.dumps({vocab.role_property: role, "previous_role": "member"}).decode()
            add(
                ("role", role),
                0,
                f'"type":"track","event":{_j(vocab.role_change_event)},"properties":{props}',
            )
        paths = {p for group in vocab.pages.values() for p in group} | set(vocab.neutral_pages)
        for path in sorted(paths):
            title = path.strip("/").split("/")[0].replace("-", " ").title() or "Home"
            url = _APP_URL + path
            add(
                ("page", path),
                1,
                f'"type":"page","name":{_j(title)},"properties":{{"path":{_j(path)},'
                f'"url":{_j(url)}}}',
            )
            add(
                ("page_url", path),
                1,
                f'"type":"page","name":{_j(title)},"properties":{{"url":{_j(url + "?ref=nav")}}}',
            )
        return cls(fragments, np.asarray(kinds, dtype=np.int8), codes)

    def code(self, *key) -> int:
        return self.codes[key]


def _j(text: str) -> str:
    return orjson.dumps(text).decode()


@dataclass
class CompanyEvents:
    """One company's messages: bulk track/page columns plus pre-built identify/group lines."""

    ts: np.ndarray
    user: np.ndarray
    anonymous: np.ndarray
    workspace: np.ndarray
    template: np.ndarray
    trait_lines: list[str]
    trait_ts: np.ndarray
    trait_kinds: np.ndarray


def iso_timestamps(ts_ms: np.ndarray, tz_minutes: np.ndarray) -> list[str]:
    """Format UTC epoch milliseconds as ISO-8601 local times with their UTC offsets."""
    text = local_times(ts_ms, tz_minutes)
    idx = ((tz_minutes + 720) // 15).tolist()
    return [t + _SUFFIXES[i] for t, i in zip(text, idx, strict=True)]


def local_times(ts_ms: np.ndarray, tz_minutes: np.ndarray) -> list[str]:
    """ISO-8601 local times without the offset, e.g. ``2025-03-04T10:22:33.123``."""
    local = (ts_ms + tz_minutes * 60_000).astype("datetime64[ms]")
    return np.datetime_as_string(local, unit="ms").tolist()


def offset_suffix(minutes: int) -> str:
    """The ISO-8601 suffix of a UTC offset in minutes: ``Z`` or ``+05:30``."""
    return _SUFFIXES[(minutes + 720) // 15]


def _offset(minutes: int) -> str:
    if minutes == 0:
        return "Z"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


class _Builder:
    """Collects one company's track and page calls as columns."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, ts, user, workspace, template, anonymous=False) -> None:
        n = len(ts)
        if n == 0:
            return
        self.parts.append(
            (
                np.asarray(ts, dtype=np.int64),
                _column(user, n, np.int64),
                _column(bool(anonymous), n, bool),
                _column(workspace, n, np.int64),
                _column(template, n, np.int64),
            )
        )

    def columns(self) -> tuple[np.ndarray, ...]:
        """Concatenate the added calls: ts, user, anonymous, workspace, template."""
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0, dtype=bool), empty, empty
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(5))


def company_events(
    company: Company,
    cal: Calendar,
    vocab: Vocabulary,
    templates: Templates,
    personal_domains: list[str],
    seed: int,
    start_ms: int,
) -> CompanyEvents:
    """Generate every message of ``company`` dated inside the history.

    Parameters
    ----------
    company : Company
        The company and its latent trajectories.
    cal : Calendar
        The simulated history.
    vocab : Vocabulary
        Event names and page paths.
    templates : Templates
        JSON fragments for the vocabulary.
    personal_domains : list of str
        Domains for personal email addresses.
    seed : int
        World seed; the events use the stream ``default_rng([seed, index, 1])``.
    start_ms : int
        Epoch milliseconds of the start of the history.

    Returns
    -------
    CompanyEvents
        The company's messages, not yet formatted for track and page calls.
    """
    rng = np.random.default_rng([seed, company.index, 1])
    users = company.users
    end_ms = start_ms + cal.end_day * DAY_MS
    to_ms = _Clock(rng, users.tz_minutes, start_ms)
    out = _Builder()

    _daily_activity(rng, company, cal, vocab, templates, to_ms, out)
    _intent_pages(rng, company, cal, vocab, templates, to_ms, out)
    _pre_signup_pages(rng, company, vocab, templates, start_ms, out)
    _team_changes(rng, company, vocab, templates, to_ms, out)

    ts, user, anonymous, workspace, template = out.columns()
    keep = (ts >= start_ms) & (ts < end_ms)
    trait_lines, trait_ts, trait_kinds = _trait_calls(
        rng, company, cal, personal_domains, start_ms, end_ms
    )
    return CompanyEvents(
        ts[keep],
        user[keep],
        anonymous[keep],
        workspace[keep],
        template[keep],
        trait_lines,
        trait_ts,
        trait_kinds,
    )


class _Clock:
    """Turns (user, day) into epoch milliseconds during the user's local working hours."""

    def __init__(self, rng: np.random.Generator, tz_minutes: np.ndarray, start_ms: int) -> None:
        self.rng = rng
        self.tz = tz_minutes
        self.start_ms = start_ms

    def __call__(self, user: np.ndarray, day: np.ndarray) -> np.ndarray:
        seconds = 8 * 3600 + self.rng.random(len(day)) * 11 * 3600
        local = self.start_ms + day.astype(np.int64) * DAY_MS + (seconds * 1000).astype(np.int64)
        return local - self.tz[user] * 60_000


def _daily_activity(rng, company, cal, vocab, templates, to_ms, out) -> None:
    """Sign-ins, value, collaboration and neutral actions on each active user-day."""
    users = company.users
    first = np.maximum(np.floor(users.join).astype(np.int64) + 1, 0)
    last = np.minimum(np.ceil(np.minimum(users.churn, cal.end_day)), cal.end_day).astype(np.int64)
    lengths = np.clip(last - first, 0, None)
    if lengths.sum() == 0:
        return
    who = np.repeat(np.arange(len(users)), lengths)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    day = np.repeat(first, lengths) + offsets
    weekday = (cal.start.weekday() + day) % 7
    chance = users.active_p[who] * np.where(weekday >= 5, 0.25, 1.0)
    active = rng.random(len(day)) < chance
    who, day = who[active], day[active]
    ws = users.workspace[who]

    def emit(counts: np.ndarray, names: tuple[str, ...], weights: np.ndarray | None) -> None:
        if not names or counts.sum() == 0:
            return
        u = np.repeat(who, counts)
        codes = np.array([templates.code("track", n) for n in names])
        pick = rng.choice(len(names), len(u), p=weights)
        out.add(to_ms(u, np.repeat(day, counts)), u, np.repeat(ws, counts), codes[pick])

    n = len(who)
    emit(np.ones(n, dtype=np.int64), vocab.neutral_events[:1], None)
    value_weights = rng.dirichlet(np.ones(len(vocab.value))) if vocab.value else None
    emit(rng.poisson(company.value_rate * users.value_mult[who]), vocab.value, value_weights)
    if len(users) > 1:
        emit(rng.poisson(company.collab_rate, n), vocab.collaboration, None)
    emit(rng.poisson(0.15, n), vocab.neutral_events, None)
    emit(rng.poisson(0.01, n), vocab.invite, None)

    views = rng.poisson(0.35, n)
    if views.sum():
        u = np.repeat(who, views)
        paths = vocab.neutral_pages
        codes = np.array([templates.code("page", p) for p in paths])
        out.add(
            to_ms(u, np.repeat(day, views)),
            u,
            np.repeat(ws, views),
            codes[rng.integers(len(paths), size=len(u))],
        )


def _intent_pages(rng, company, cal, vocab, templates, to_ms, out) -> None:
    """Pricing, security, legal and enterprise page views: noise plus interest periods."""
    users = company.users
    days = np.arange(max(int(np.floor(company.signup)) + 1, 0), cal.end_day)
    if len(days) == 0:
        return
    present = users.present(days + 0.5)
    for role, (background, elevated) in _INTENT_RATES.items():
        paths = vocab.pages.get(role, ())
        if not paths:
            continue
        spans = company.interest[role]
        active = (spans[:, 0][None, :] <= days[:, None]) & (spans[:, 1][None, :] > days[:, None])
        rate = background + elevated * active.any(axis=1)
        counts = rng.poisson(rate)
        rows = np.flatnonzero(counts)
        if len(rows) == 0:
            continue
        visit_rows = np.repeat(rows, counts[rows])
        pick = rng.random((len(visit_rows), len(users))) * present[visit_rows]
        who = pick.argmax(axis=1)
        valid = present[visit_rows, who]
        who, visit_days = who[valid], days[visit_rows[valid]]
        kind = np.where(rng.random(len(who)) < 0.1, "page_url", "page")
        path_pick = rng.integers(len(paths), size=len(who))
        codes = np.array(
            [templates.code(k, paths[p]) for k, p in zip(kind, path_pick, strict=True)]
        )
        out.add(to_ms(who, visit_days), who, users.workspace[who], codes)


def _pre_signup_pages(rng, company, vocab, templates, start_ms, out) -> None:
    """Anonymous views before a user's first identify, stitched later by anonymousId."""
    users = company.users
    candidates = np.flatnonzero(~users.spike & (rng.random(len(users)) < 0.25))
    if len(candidates) == 0:
        return
    counts = 1 + rng.poisson(1.0, len(candidates))
    who = np.repeat(candidates, counts)
    before = rng.uniform(0.02, 7.0, len(who))
    ts = start_ms + ((users.join[who] - before) * DAY_MS).astype(np.int64)
    options = [p for role in ("pricing", "security") for p in vocab.pages.get(role, ())]
    options += list(vocab.neutral_pages[-1:])
    codes = np.array([templates.code("page", p) for p in options])
    out.add(ts, who, -1, codes[rng.integers(len(options), size=len(who))], anonymous=True)


def _team_changes(rng, company, vocab, templates, to_ms, out) -> None:
    """Invites before joins, users added at joins, admin and other role changes.

    Each is done by the earliest member of the workspace still present at the time.
    """
    users = company.users
    start_ms = to_ms.start_ms
    joined = np.flatnonzero(~users.founder)
    invited = joined[~users.spike[joined]]
    lead = rng.uniform(0.05, 3.0, len(invited))
    if vocab.user_added:
        codes = np.array([templates.code("track", n) for n in vocab.user_added])
        for j in joined:
            actor = _actor(users, users.workspace[j], users.join[j])
            if actor >= 0:
                ts = start_ms + int(users.join[j] * DAY_MS) + 30_000
                out.add([ts], actor, users.workspace[j], codes[rng.integers(len(codes))])
    if vocab.invite:
        codes = np.array([templates.code("track", n) for n in vocab.invite])
        for j, ahead in zip(invited, lead, strict=True):
            day = users.join[j] - ahead
            actor = _actor(users, users.workspace[j], day)
            if actor >= 0:
                ts = start_ms + int(day * DAY_MS)
                out.add([ts], actor, users.workspace[j], codes[rng.integers(len(codes))])

    changes = [(day, vocab.admin_roles) for day in company.admin_changes]
    n_other = rng.poisson(len(users) / 8.0)
    changes += [(day, vocab.other_roles) for day in company.signup + rng.uniform(1, 400, n_other)]
    for day, roles in changes:
        actor = _actor(users, 0, day)
        if not roles or actor < 0:
            continue
        role = roles[rng.integers(len(roles))]
        ts = to_ms(np.array([actor]), np.array([np.floor(day)]))
        ts = np.maximum(ts, start_ms + int(day * DAY_MS))
        out.add(ts, actor, users.workspace[actor], templates.code("role", role))


def _actor(users, workspace: int, day: float) -> int:
    """The earliest-seen member of ``workspace`` present on ``day``, or -1 if none."""
    present = (users.workspace == workspace) & (users.seen < day) & (users.churn > day)
    if not present.any():
        return -1
    candidates = np.flatnonzero(present)
    return int(candidates[np.argmin(users.seen[candidates])])


def _trait_calls(rng, company, cal, personal_domains, start_ms, end_ms):
    """Identify and group calls at each user's join, plus a plan change on conversion."""
    users = company.users
    ids = user_ids(company)
    anon = anonymous_ids(company)
    ws_ids = company.workspace_ids
    lines: list[dict] = []
    stamps: list[int] = []
    kinds: list[int] = []
    ws_created = {
        w: _iso_utc(start_ms + int(day * DAY_MS)) for w, day in enumerate(company.workspace_created)
    }
    plan = "team" if company.team_plan else "free"
    for j in np.flatnonzero(users.seen < cal.end_day):
        ts = start_ms + int(users.seen[j] * DAY_MS)
        created = start_ms + int(users.join[j] * DAY_MS)
        traits = _user_traits(rng, company, j, personal_domains, created)
        lines.append(
            {"type": "identify", "userId": ids[j], "anonymousId": anon[j], "traits": traits}
        )
        stamps.append(ts)
        kinds.append(2)
        w = int(users.workspace[j])
        lines.append(
            {
                "type": "group",
                "userId": ids[j],
                "anonymousId": anon[j],
                "groupId": ws_ids[w],
                "traits": _group_traits(rng, company, w, ws_created[w], plan),
            }
        )
        stamps.append(ts + 1000)
        kinds.append(3)
    if company.close_day is not None:
        ts = start_ms + int((company.close_day + rng.uniform(1, 5)) * DAY_MS)
        owner = int(np.flatnonzero(users.founder)[0])
        if ts < end_ms and users.seen[owner] * DAY_MS + start_ms < ts:
            lines.append(
                {
                    "type": "group",
                    "userId": ids[owner],
                    "anonymousId": anon[owner],
                    "groupId": ws_ids[0],
                    "traits": _group_traits(rng, company, 0, ws_created[0], "enterprise"),
                }
            )
            stamps.append(ts)
            kinds.append(3)
    tz = users.tz_minutes
    owners = _line_users(lines, ids)
    iso = iso_timestamps(np.asarray(stamps, dtype=np.int64), tz[owners]) if lines else []
    texts = []
    for k, (message, stamp) in enumerate(zip(lines, iso, strict=True)):
        message = {"messageId": message_id(company.index, f"t{k:x}"), **message}
        message["timestamp"] = stamp
        texts.append(orjson.dumps(message).decode())
    return texts, np.asarray(stamps, dtype=np.int64), np.asarray(kinds, dtype=np.int8)


def message_id(company: int, serial: str) -> str:
    """A message id unique within the world: the company number and a serial."""
    return f"{company:06x}-{serial}"


def _line_users(lines: list[dict], ids: list[str]) -> np.ndarray:
    lookup = {uid: j for j, uid in enumerate(ids)}
    return np.asarray([lookup[line["userId"]] for line in lines], dtype=np.int64)


def user_ids(company: Company) -> list[str]:
    return [f"u_{company.index:06x}{j:04x}" for j in range(len(company.users))]


def anonymous_ids(company: Company) -> list[str]:
    return [f"anon-{company.index:06x}-{j:04x}" for j in range(len(company.users))]


def _iso_utc(ts_ms: int) -> str:
    return str(np.datetime64(int(ts_ms), "ms")) + "Z"


def _user_traits(rng, company: Company, j: int, personal_domains: list[str], ts: int) -> dict:
    users = company.users
    first = _FIRST_NAMES[rng.integers(len(_FIRST_NAMES))]
    last = _LAST_NAMES[rng.integers(len(_LAST_NAMES))]
    if users.personal[j] and personal_domains:
        domain = personal_domains[rng.integers(len(personal_domains))]
        email = f"{first}.{last}{rng.integers(10, 999)}@{domain}".lower()
    else:
        email = f"{first}.{last}{j}@{company.domain}".lower()
    traits: dict = {"email": email, "name": f"{first} {last}", "createdAt": _iso_utc(ts)}
    if not company.personal:
        traits["company"] = company.name
    department = DEPARTMENTS[int(users.department[j])]
    seniority = int(users.seniority[j])
    if users.has_title[j]:
        options = _TITLES[seniority]
        title = options[rng.integers(len(options))]
        traits["title"] = title.format(dept=_DEPT_TITLES[department])
    if users.answered[j]:
        band = company.band
        if rng.random() < 0.15:
            band = int(np.clip(band + rng.choice([-1, 1]), 0, len(SIZE_BANDS) - 1))
        traits["company_size"] = SIZE_BANDS[band]
        traits["department"] = department
        traits["seniority"] = SENIORITIES[seniority]
        traits["use_case"] = _USE_CASES[rng.integers(len(_USE_CASES))]
    return traits


def _group_traits(rng, company: Company, w: int, created: str, plan: str) -> dict:
    if company.personal:
        return {"name": "My Workspace", "plan": plan, "createdAt": created}
    suffix = "" if w == 0 else f" ({DEPARTMENTS[w % len(DEPARTMENTS)].title()})"
    traits: dict = {"name": company.name + suffix, "plan": plan, "createdAt": created}
    if rng.random() < 0.6:
        traits["employees"] = company.employees
    if rng.random() < 0.7:
        traits["industry"] = company.industry
    if rng.random() < 0.6:
        traits["website"] = f"https://{company.domain}"
    return traits


def format_lines(company: Company, events: CompanyEvents, templates: Templates) -> list[str]:
    """Turn a company's track and page columns into JSON lines, then add identify/group.

    Returns
    -------
    list of str
        One JSON message per element, track and page calls first.
    """
    ids = user_ids(company)
    anon = anonymous_ids(company)
    zone = [offset_suffix(int(m)) for m in company.users.tz_minutes]
    known = [
        f'{z}","userId":"{u}","anonymousId":"{a}",' for u, a, z in zip(ids, anon, zone, strict=True)
    ]
    unknown = [f'{z}","anonymousId":"{a}",' for a, z in zip(anon, zone, strict=True)]
    contexts = [f',"context":{{"groupId":"{w}"}}' for w in company.workspace_ids] + [""]
    prefix = f"{company.index:06x}-e"
    stamps = local_times(events.ts, company.users.tz_minutes[events.user])
    fragments = templates.fragments
    who = [
        (unknown if anonymous else known)[u]
        for u, anonymous in zip(events.user.tolist(), events.anonymous.tolist(), strict=True)
    ]
    lines = [
        f'{{"messageId":"{prefix}{k:x}","timestamp":"{stamp}{person}{fragments[t]}{contexts[w]}}}'
        for k, (stamp, person, t, w) in enumerate(
            zip(stamps, who, events.template.tolist(), events.workspace.tolist(), strict=True)
        )
    ]
    return lines + events.trait_lines


def _column(value, n: int, dtype) -> np.ndarray:
    """``value`` as a length-``n`` array: an array as is, a scalar repeated."""
    if np.ndim(value) == 0:
        return np.full(n, value, dtype=dtype)
    return np.asarray(value, dtype=dtype)


_SUFFIXES = [_offset(m) for m in range(-720, 841, 15)]
