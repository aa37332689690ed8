"""The product vocabulary a simulated world speaks, derived from the config.

Event names come straight from the config's roles; page paths are concrete paths
derived from the config's glob patterns (``/pricing*`` gives ``/pricing``,
``/legal/*`` gives ``/legal/dpa``). Neutral events and pages that map to no role are
added so that the tool also sees traffic it must ignore.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pqa.config import PAGE_ROLES, Config

logger = logging.getLogger(__name__)

_NEUTRAL_EVENTS = ("Signed In", "Settings Viewed", "Search Performed", "Notification Opened")
_NEUTRAL_PAGES = ("/dashboard", "/docs/getting-started", "/settings/profile", "/home")
_WILDCARD_FILLERS = ("", "dpa", "overview", "soc2", "plans")
_NON_ADMIN_ROLES = ("member", "editor", "viewer", "guest")


@dataclass(frozen=True)
class Vocabulary:
    """Names and paths used by the simulator, grouped by the role they play.

    Attributes
    ----------
    value, collaboration, invite, user_added : tuple of str
        Track event names per role (may be empty when the config names none).
    role_change_event, role_property : str
        The role-change track event and the property carrying the new role.
    admin_roles, other_roles : tuple of str
        Role values that grant admin rights, and ones that do not.
    pages : dict of str to tuple of str
        Concrete page paths per page role (pricing, security, legal, enterprise).
    neutral_events, neutral_pages : tuple of str
        Track events and page paths that map to no role in the config.
    """

    value: tuple[str, ...]
    collaboration: tuple[str, ...]
    invite: tuple[str, ...]
    user_added: tuple[str, ...]
    role_change_event: str
    role_property: str
    admin_roles: tuple[str, ...]
    other_roles: tuple[str, ...]
    pages: dict[str, tuple[str, ...]]
    neutral_events: tuple[str, ...]
    neutral_pages: tuple[str, ...]


def build_vocabulary(config: Config) -> Vocabulary:
    """Derive the simulator's vocabulary from ``config``.

    Parameters
    ----------
    config : Config
        The product configuration whose event names and page patterns are used.

    Returns
    -------
    Vocabulary
        Event names and concrete page paths, each checked to map to its intended role.
    """
    events = config.events
    roles = events.role_of()
    admin = tuple(events.role_change.admin_values)
    lowered_admin = {value.lower() for value in admin}
    others = tuple(r for r in _NON_ADMIN_ROLES if r not in lowered_admin)
    pages = {role: _paths_for_role(config, role) for role in PAGE_ROLES}
    neutral_events = tuple(name for name in _NEUTRAL_EVENTS if name not in roles)
    neutral_pages = tuple(p for p in _NEUTRAL_PAGES if config.pages.role_of_path(p) is None)
    if not neutral_events:
        neutral_events = ("Simulator Heartbeat",)
    if not neutral_pages:
        neutral_pages = ("/simulator-home",)
    return Vocabulary(
        value=_owned(events.value, "value", roles),
        collaboration=_owned(events.collaboration, "collaboration", roles),
        invite=_owned(events.invite, "invite", roles),
        user_added=_owned(events.user_added, "user_added", roles),
        role_change_event=events.role_change.event,
        role_property=events.role_change.property,
        admin_roles=admin,
        other_roles=others,
        pages=pages,
        neutral_events=neutral_events,
        neutral_pages=neutral_pages,
    )


def _owned(names: list[str], role: str, roles: dict[str, str]) -> tuple[str, ...]:
    """Keep the names whose role really is ``role`` (a name listed twice keeps its first)."""
    return tuple(name for name in names if roles.get(name) == role)


def concrete_paths(pattern: str) -> list[str]:
    """Return candidate concrete paths matching the glob ``pattern``.

    ``*`` is filled with a few plausible words (nothing first), ``?`` with ``x`` and a
    ``[...]`` class with its first character.

    Parameters
    ----------
    pattern : str
        A glob pattern on a page path, e.g. ``/pricing*`` or ``/legal/*``.

    Returns
    -------
    list of str
        Candidate paths, most natural first.
    """
    pattern = re.sub(r"\[!?(.)[^\]]*\]", r"\1", pattern).replace("?", "x")
    candidates = []
    for filler in _WILDCARD_FILLERS:
        path = pattern.replace("*", filler)
        if "//" in path or path.endswith("/") and len(path) > 1:
            continue
        candidates.append(path if path.startswith("/") else "/" + path)
    return list(dict.fromkeys(candidates))


def _paths_for_role(config: Config, role: str) -> tuple[str, ...]:
    """Concrete paths for every pattern of ``role`` that the config maps back to ``role``."""
    paths: list[str] = []
    for pattern in getattr(config.pages, role):
        matching = [p for p in concrete_paths(pattern) if config.pages.role_of_path(p) == role]
        if matching:
            paths.append(matching[0])
        else:
            logger.warning("No concrete path found for %s page pattern %r", role, pattern)
    return tuple(dict.fromkeys(paths))
