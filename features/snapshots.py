"""Account feature snapshots: one row per (account, as-of date), point in time.

:func:`compute_features` folds the events once (:func:`features.activity.daily_activity`)
and then, for each as-of date D, maps the activity rows usable at D (``day < D`` and
``available_day < D``) to the accounts of D (:func:`features.accounts.resolve_accounts`;
a row without workspace belongs to its user's first workspace joined before D) and lets
each feature family (usage, velocity, profile, intent, adoption) compute its columns
with array operations over all accounts at once.

An account exists at D when at least one activity row maps to it; only existing accounts
get a row. Numeric features are float64 (NaN means unknown, e.g. ``days_since_*`` with no
visit), categorical features are strings with ``"unknown"`` for a missing value, boolean
features are bool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property

import numpy as np
import pandas as pd

from features import adoption, intent, profile, usage, velocity
from features.accounts import WORKSPACE_ACCOUNT_PREFIX, resolve_accounts
from features.activity import ActivityArrays, daily_activity, epoch_days
from features.catalog import AUXILIARY_COLUMNS, FEATURES, KEY_COLUMNS
from features.tables import Tables
from pqa.config import Config

logger = logging.getLogger(__name__)

WINDOW_DAYS = 91
"""The longest look-back of any windowed feature (the 12 weeks before the last 7 days)."""

_AGO_BITS = 7  # room for 0..127 days ago in a packed (account, user, day) key

Progress = Callable[[int, int], None]


@dataclass
class Snapshot:
    """Everything the feature families need about the accounts at one as-of date.

    Attributes
    ----------
    as_of : Timestamp
        The as-of date D (UTC midnight).
    day : int
        D as whole days since 1970-01-01.
    accounts : ndarray of str
        The accounts that exist at D, sorted; account codes index this array.
    tables, config
        The inputs, for families that read users, groups or the CRM directly.
    users : Index
        User ids; user codes index it.
    window : dict of ndarray
        Activity rows of the last :data:`WINDOW_DAYS` days before D: ``account`` and
        ``user`` codes, ``ago`` (D minus the row's day, 1 for the day before D), one array
        per count column and ``event_mask``.
    members : DataFrame
        ``account, user, first_day``: every user seen in an account before D (a group
        call or an activity row), with the first day seen.
    workspace_accounts : DataFrame
        ``workspace_id, account``: the workspaces of the existing accounts.
    first_day : ndarray of int
        Day of each account's first activity row.
    last_day : dict of ndarray of float
        Per role of :attr:`ActivityArrays.role_rows`, the day of the latest row with that
        role (NaN when none).
    identities, groups : DataFrame
        The identities (with a ``user`` code column) and group calls, sorted by time.
    """

    as_of: pd.Timestamp
    day: int
    accounts: np.ndarray
    tables: Tables
    config: Config
    users: pd.Index
    window: dict[str, np.ndarray]
    members: pd.DataFrame
    workspace_accounts: pd.DataFrame
    first_day: np.ndarray
    last_day: dict[str, np.ndarray] = field(default_factory=dict)
    identities: pd.DataFrame | None = None
    groups: pd.DataFrame | None = None
    cache: dict[str, object] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.accounts)

    def _within(self, days: tuple[int, int]) -> np.ndarray:
        newest, oldest = days
        ago = self.window["ago"]
        return (ago > newest) & (ago <= oldest)

    def window_sum(self, column: str, days: tuple[int, int]) -> np.ndarray:
        """Per account, the sum of ``column`` over rows dated in ``[D - oldest, D - newest)``.

        ``days=(0, 7)`` is the last 7 days; ``(7, 14)`` the 7 days before those.
        """
        hit = self._within(days)
        weights = self.window[column][hit].astype(np.float64)
        return np.bincount(self.window["account"][hit], weights=weights, minlength=self.size)

    @cached_property
    def _user_days(self) -> np.ndarray:
        """Sorted distinct packed keys ``(account * n_users + user) << 7 | ago``."""
        pair = self.window["account"] * len(self.users) + self.window["user"]
        return _distinct_sorted((pair << _AGO_BITS) | self.window["ago"])

    def _user_days_within(self, days: tuple[int, int]) -> np.ndarray:
        keys = self._user_days
        ago = keys & ((1 << _AGO_BITS) - 1)
        return keys[(ago > days[0]) & (ago <= days[1])]

    def distinct_users(self, days: tuple[int, int]) -> np.ndarray:
        """Per account, the number of distinct users with a row in the window."""
        pairs = self._user_days_within(days) >> _AGO_BITS
        first = np.concatenate([[True], pairs[1:] != pairs[:-1]]) if len(pairs) else pairs
        accounts = pairs[first.astype(bool)] // len(self.users)
        return np.bincount(accounts, minlength=self.size).astype(np.float64)

    def user_days(self, days: tuple[int, int]) -> np.ndarray:
        """Per account, the number of distinct (user, day) pairs in the window."""
        accounts = (self._user_days_within(days) >> _AGO_BITS) // len(self.users)
        return np.bincount(accounts, minlength=self.size).astype(np.float64)

    def active_days(self, days: tuple[int, int]) -> np.ndarray:
        """Per account, the number of distinct days with a row in the window."""
        hit = self._within(days)
        keys = _distinct_sorted(
            (self.window["account"][hit] << _AGO_BITS) | self.window["ago"][hit]
        )
        return np.bincount(keys >> _AGO_BITS, minlength=self.size).astype(np.float64)

    def breadth(self, days: tuple[int, int]) -> np.ndarray:
        """Per account, the number of distinct track event names in the window."""
        hit = self._within(days)
        combined = np.zeros(self.size, dtype=np.uint64)
        np.bitwise_or.at(combined, self.window["account"][hit], self.window["event_mask"][hit])
        return np.bitwise_count(combined).astype(np.float64)


def _distinct_sorted(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an int64 array (a sort, cheaper than a hash here)."""
    keys = np.sort(keys)
    if len(keys) == 0:
        return keys
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])]


def as_of_range(start: date, end: date, every: str = "month") -> list[pd.Timestamp]:
    """Return the as-of dates in ``[start, end]``: month starts or Mondays, UTC midnight.

    Parameters
    ----------
    start, end : date
        First and last day of the range, inclusive.
    every : {"month", "week"}
        ``"month"`` gives the first day of each month, ``"week"`` each Monday.
    """
    if every not in ("month", "week"):
        raise ValueError(f"every must be 'month' or 'week'; got {every!r}")
    first, last = _as_of(start, "start"), _as_of(end, "end")
    if last < first:
        return []
    freq = "MS" if every == "month" else "W-MON"
    return list(pd.date_range(first, last, freq=freq, tz="UTC"))


def _as_of(value: date | datetime | pd.Timestamp | str, name: str = "dates") -> pd.Timestamp:
    """Read an as-of date as a UTC midnight Timestamp."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name}: expected a date; got {value!r}") from err
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp != stamp.normalize():
        raise ValueError(
            f"{name}: as-of dates are UTC midnights; got {value!r}. Pass a date such as "
            f"{stamp.normalize().date()}"
        )
    return stamp.as_unit("us")


def as_of_dates(dates: Iterable) -> list[pd.Timestamp]:
    """Return ``dates`` as sorted distinct UTC midnight Timestamps."""
    return sorted({_as_of(d) for d in dates})


class SnapshotBuilder:
    """Prepares the activity once, then builds a :class:`Snapshot` for any as-of date."""

    def __init__(self, tables: Tables, config: Config) -> None:
        self.tables = tables
        self.config = config
        activity = daily_activity(tables, config)
        groups = tables.groups[
            tables.groups["user_id"].notna() & tables.groups["workspace_id"].notna()
        ]
        self.users = _vocabulary(
            activity["user_id"], groups["user_id"], tables.identities["user_id"]
        )
        self.workspaces = _vocabulary(activity["workspace_id"], groups["workspace_id"])
        self.activity = ActivityArrays(activity, self.users, self.workspaces)
        identities = tables.identities[tables.identities["user_id"].notna()]
        self.identities = identities.assign(
            user=self.users.get_indexer(identities["user_id"])
        ).sort_values("timestamp", kind="stable")
        self.groups = tables.groups.sort_values("timestamp", kind="stable")
        self.memberships = _memberships(groups, self.users, self.workspaces)
        self.first_workspace = _first_workspaces(self.memberships, len(self.users))
        # resolve_accounts reads events only to learn which workspaces exist before D;
        # one row per workspace with its first timestamp answers that at a fraction of the cost.
        self._account_tables = tables.replace(events=workspace_first_events(tables.events))

    def workspace_account_codes(self, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """Account of every workspace at ``as_of``: (codes into the account names, names)."""
        resolved = resolve_accounts(self._account_tables, as_of)
        account = (
            pd.Series(resolved["account_id"].to_numpy(), index=resolved["workspace_id"].to_numpy())
            .reindex(self.workspaces)
            .to_numpy(dtype=object, copy=True)
        )
        missing = pd.isna(account)
        account[missing] = [WORKSPACE_ACCOUNT_PREFIX + w for w in self.workspaces[missing]]
        codes, names = pd.factorize(account, sort=True)
        return codes.astype(np.int64), np.asarray(names, dtype=object)

    def _map(
        self, user: np.ndarray, workspace: np.ndarray, workspace_account: np.ndarray, day: int
    ) -> np.ndarray:
        """Account code of activity rows at ``day`` (-1 when the row has no account)."""
        first_ws, joined = self.first_workspace
        fallback = np.where(joined[user] < day, first_ws[user], -1)
        ws = np.where(workspace >= 0, workspace, fallback)
        return np.where(ws >= 0, workspace_account[np.maximum(ws, 0)], -1)

    def build(self, as_of: pd.Timestamp) -> Snapshot:
        """Return the snapshot of every account that exists at ``as_of``."""
        day = int(epoch_days(pd.Series([as_of]))[0])
        workspace_account, names = self.workspace_account_codes(as_of)
        act = self.activity

        firsts = act.firsts
        usable = firsts["available"] < day
        first_account = self._map(
            firsts["user"][usable], firsts["workspace"][usable], workspace_account, day
        )
        first_user, first_days = firsts["user"][usable], firsts["day"][usable]
        mapped = first_account >= 0
        exists = np.unique(first_account[mapped])
        recode = np.full(len(names), -1, dtype=np.int64)
        recode[exists] = np.arange(len(exists))
        n = len(exists)

        first_day = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_day, recode[first_account[mapped]], first_days[mapped])

        rows = act.before(day, since_day=day - WINDOW_DAYS)
        account = self._map(act.user[rows], act.workspace[rows], workspace_account, day)
        account = np.where(account >= 0, recode[np.maximum(account, 0)], -1)
        keep = (account >= 0) & (act.day[rows] >= day - WINDOW_DAYS)
        window = {
            "account": account[keep],
            "user": act.user[rows][keep],
            "ago": day - act.day[rows][keep],
            "event_mask": act.mask[rows][keep],
        }
        for name, values in act.counts.items():
            window[name] = values[rows][keep]

        last_day = {}
        for role, role_rows in act.role_rows.items():
            role_rows = role_rows[act.available[role_rows] < day]
            role_account = self._map(
                act.user[role_rows], act.workspace[role_rows], workspace_account, day
            )
            role_account = np.where(role_account >= 0, recode[np.maximum(role_account, 0)], -1)
            latest = np.full(n, -np.inf)
            hit = role_account >= 0
            np.maximum.at(latest, role_account[hit], act.day[role_rows][hit].astype(np.float64))
            last_day[role] = np.where(np.isfinite(latest), latest, np.nan)

        members = self._members(
            day, workspace_account, recode, first_account, first_user, first_days
        )
        ws_codes = np.arange(len(self.workspaces))
        ws_accounts = recode[workspace_account]
        existing_ws = ws_accounts >= 0
        joined_before = np.zeros(len(self.workspaces), dtype=bool)
        joined_before[self.memberships["workspace"][self.memberships["day"] < day]] = True
        seen_before = np.zeros(len(self.workspaces), dtype=bool)
        seen_before[act.workspace[act.before(day)][act.workspace[act.before(day)] >= 0]] = True
        known = existing_ws & (joined_before | seen_before)
        workspace_accounts = pd.DataFrame(
            {
                "workspace_id": self.workspaces[ws_codes[known]],
                "account": ws_accounts[known],
            }
        )
        return Snapshot(
            as_of=as_of,
            day=day,
            accounts=names[exists],
            tables=self.tables,
            config=self.config,
            users=self.users,
            window=window,
            members=members,
            workspace_accounts=workspace_accounts,
            first_day=first_day,
            last_day=last_day,
            identities=self.identities,
            groups=self.groups,
        )

    def _members(self, day, workspace_account, recode, first_account, first_user, first_days):
        """Every (account, user) seen before ``day`` with the first day seen."""
        joined = self.memberships[self.memberships["day"] < day]
        joined_account = recode[workspace_account[joined["workspace"].to_numpy()]]
        first_recoded = np.where(first_account >= 0, recode[np.maximum(first_account, 0)], -1)
        parts = pd.DataFrame(
            {
                "account": np.concatenate([joined_account, first_recoded]),
                "user": np.concatenate([joined["user"].to_numpy(), first_user]),
                "first_day": np.concatenate([joined["day"].to_numpy(), first_days]),
            }
        )
        parts = parts[parts["account"] >= 0]
        return parts.groupby(["account", "user"], as_index=False, sort=True)["first_day"].min()


def _vocabulary(*columns: pd.Series) -> pd.Index:
    values = pd.concat([c.dropna().astype("str") for c in columns], ignore_index=True)
    return pd.Index(np.sort(values.unique().astype(object)), dtype=object)


def _memberships(groups: pd.DataFrame, users: pd.Index, workspaces: pd.Index) -> pd.DataFrame:
    """One row per (user, workspace) code pair with the day of the first group call."""
    frame = pd.DataFrame(
        {
            "user": users.get_indexer(groups["user_id"]),
            "workspace": workspaces.get_indexer(groups["workspace_id"]),
            "timestamp": groups["timestamp"].to_numpy(),
        }
    )
    first = frame.groupby(["user", "workspace"], as_index=False, sort=True)["timestamp"].min()
    first["day"] = epoch_days(first["timestamp"])
    return first


def _first_workspaces(memberships: pd.DataFrame, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per user code: the first workspace joined (ties by workspace id) and its day."""
    ordered = memberships.sort_values(["user", "timestamp", "workspace"], kind="stable")
    ordered = ordered.drop_duplicates("user")
    workspace = np.full(n_users, -1, dtype=np.int64)
    day = np.full(n_users, np.iinfo(np.int64).max, dtype=np.int64)
    workspace[ordered["user"].to_numpy()] = ordered["workspace"].to_numpy()
    day[ordered["user"].to_numpy()] = ordered["day"].to_numpy()
    return workspace, day


def workspace_first_events(events: pd.DataFrame) -> pd.DataFrame:
    """``workspace_id, timestamp``: each workspace's first event, all that account
    resolution needs from the events to know which workspaces exist before a date."""
    codes, names = pd.factorize(events["workspace_id"])
    stamps = events["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    known = codes >= 0
    first = pd.Series(stamps[known]).groupby(codes[known], sort=True).min()
    return pd.DataFrame(
        {
            "workspace_id": pd.array(np.asarray(names, dtype=object)[first.index], dtype="str"),
            "timestamp": pd.DatetimeIndex(first.to_numpy(), tz="UTC"),
        }
    )


FAMILIES = (usage, velocity, profile, intent, adoption)


def feature_columns() -> list[str]:
    """Columns of a snapshot table, in order."""
    return [*KEY_COLUMNS, *FEATURES, *AUXILIARY_COLUMNS]


def snapshot_frame(snapshot: Snapshot) -> pd.DataFrame:
    """Compute every feature family for one snapshot; returns the contract columns."""
    columns: dict[str, object] = {
        "account_id": pd.array(snapshot.accounts, dtype="str"),
        "as_of": pd.DatetimeIndex([snapshot.as_of] * snapshot.size).as_unit("us"),
    }
    for family in FAMILIES:
        columns.update(family.compute(snapshot, columns))
    return _conform(columns)


def _conform(columns: dict[str, object]) -> pd.DataFrame:
    """Build the frame in the catalog's column order, each column in its contract dtype."""
    typed: dict[str, object] = {name: columns[name] for name in KEY_COLUMNS}
    for name, spec in FEATURES.items():
        values = columns[name]
        if spec.kind == "numeric":
            typed[name] = np.asarray(values, dtype=np.float64)
        elif spec.kind == "boolean":
            typed[name] = np.asarray(values, dtype=bool)
        else:
            typed[name] = pd.Series(values, dtype="str").fillna("unknown").array
    for name in AUXILIARY_COLUMNS:
        typed[name] = pd.to_datetime(pd.Series(columns[name]), utc=True).array
    return pd.DataFrame(typed)


def empty_features() -> pd.DataFrame:
    """A snapshot table with no rows and the contract dtypes."""
    columns: dict[str, object] = {
        "account_id": pd.array([], dtype="str"),
        "as_of": pd.DatetimeIndex([], tz="UTC").as_unit("us"),
    }
    for name, spec in FEATURES.items():
        kind = {"numeric": np.float64, "boolean": bool}.get(spec.kind, "str")
        columns[name] = pd.Series([], dtype=kind)
    columns["max_users_added_day_90d"] = pd.DatetimeIndex([], tz="UTC").as_unit("us")
    return pd.DataFrame(columns)[feature_columns()]


def compute_features(
    tables: Tables,
    config: Config,
    dates: Iterable[date | datetime | pd.Timestamp],
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Compute every catalog feature for every account existing at each as-of date.

    Parameters
    ----------
    tables : Tables
        Normalized tables (see :mod:`pqa.contract`).
    config : Config
        The product's configuration.
    dates : iterable of date or Timestamp
        As-of dates; dates and naive Timestamps are read as UTC midnights.
    progress : callable, optional
        Called as ``progress(done, total)`` after each as-of date.

    Returns
    -------
    DataFrame
        One row per (account_id, as_of), sorted by ``as_of, account_id``; columns
        :data:`~features.catalog.KEY_COLUMNS`, every feature of the catalog, then
        :data:`~features.catalog.AUXILIARY_COLUMNS`.
    """
    as_of = as_of_dates(dates)
    if not as_of:
        raise ValueError("dates: give at least one as-of date; got none")
    builder = SnapshotBuilder(tables, config)
    frames = []
    for done, stamp in enumerate(as_of, start=1):
        snapshot = builder.build(stamp)
        frames.append(snapshot_frame(snapshot))
        logger.info("Snapshot %s: %d accounts", stamp.date(), snapshot.size)
        if progress is not None:
            progress(done, len(as_of))
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_features()
    result = pd.concat(frames, ignore_index=True)
    return result.sort_values(["as_of", "account_id"], kind="stable", ignore_index=True)
