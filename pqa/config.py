"""Typed configuration: a product's vocabulary, the conversion definition, PQA rules,
training and scoring settings.

A user's YAML file is laid over the built-in defaults section by section: a section
the file leaves out keeps its default, a section it names replaces the default
whole. Unknown keys are rejected with a message naming the key, before any work
starts.
"""

from __future__ import annotations

import hashlib
import json
from fnmatch import fnmatchcase
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_CONFIG_RESOURCE = "default_config.yaml"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


EventNames = Annotated[list[str], Field(default_factory=list)]
PathPatterns = Annotated[list[str], Field(default_factory=list)]


class RoleChange(_Strict):
    """Which track event records a change of a user's role, and which values mean admin."""

    event: str = "Role Changed"
    property: str = "role"
    admin_values: list[str] = Field(default_factory=lambda: ["admin", "owner"])


class EventVocabulary(_Strict):
    """Maps this product's track event names to the roles the features use."""

    value: EventNames
    collaboration: EventNames
    invite: EventNames
    user_added: EventNames
    role_change: RoleChange = Field(default_factory=RoleChange)

    def role_of(self) -> dict[str, str]:
        """Return ``{event name: role}`` for every mapped track event.

        An event named under two roles keeps the first in the order value,
        collaboration, invite, user_added, role_change.
        """
        mapping: dict[str, str] = {}
        for role in ("value", "collaboration", "invite", "user_added"):
            for name in getattr(self, role):
                mapping.setdefault(name, role)
        mapping.setdefault(self.role_change.event, "role_change")
        return mapping


class PageVocabulary(_Strict):
    """Glob patterns on the page path (``/pricing*``) for each page role."""

    pricing: PathPatterns
    security: PathPatterns
    legal: PathPatterns
    enterprise: PathPatterns

    def role_of_path(self, path: str | None) -> str | None:
        """Return the first page role whose pattern matches ``path`` (case-insensitive)."""
        if not path:
            return None
        lowered = path.lower()
        for role in PAGE_ROLES:
            if any(fnmatchcase(lowered, pattern.lower()) for pattern in getattr(self, role)):
                return role
        return None


PAGE_ROLES = ("pricing", "security", "legal", "enterprise")


class Conversion(_Strict):
    """What counts as an enterprise conversion in the CRM export."""

    min_amount: float = Field(15000, ge=0)
    horizon_days: int = Field(90, ge=1, le=730)
    opportunity_types: list[str] = Field(
        default_factory=list,
        description="Opportunity Type values that count; empty means every type.",
    )


class Snapshots(_Strict):
    """How training snapshots are laid over the history."""

    every: Literal["month", "week"] = "month"
    min_history_days: int = Field(
        60, ge=0, description="First as-of date is at least this long after the first event."
    )


Operator = Literal[">=", ">", "<=", "<", "==", "!="]


class RuleCondition(_Strict):
    """One named condition over a feature: ``feature op value``."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    feature: str
    op: Operator
    value: float | str | bool
    reason: str | None = Field(
        None,
        description="Plain-language reason; '{value}' is replaced by the account's value.",
    )


class PQARules(_Strict):
    """An account is a PQA when every ``all_of`` rule fires and, if ``any_of`` is
    non-empty, at least ``min_any`` of the ``any_of`` rules fire."""

    all_of: list[RuleCondition] = Field(default_factory=list)
    any_of: list[RuleCondition] = Field(default_factory=list)
    min_any: int = Field(1, ge=0)

    @field_validator("any_of")
    @classmethod
    def _names_unique(cls, rules: list[RuleCondition], info: Any) -> list[RuleCondition]:
        names = [r.name for r in info.data.get("all_of", [])] + [r.name for r in rules]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(duplicated)}")
        return rules

    def all_rules(self) -> list[RuleCondition]:
        return [*self.all_of, *self.any_of]


class Training(_Strict):
    """Training settings: split, seed, model registry and sales capacity."""

    target: Literal["auto", "conversion", "pqa"] = "auto"
    test_snapshots: int = Field(2, ge=1, description="Latest as-of dates held out as test.")
    validation_snapshots: int = Field(2, ge=1, description="As-of dates before the test set.")
    seed: int = 42
    capacity: int = Field(100, ge=1, description="Accounts sales can work per period (top k).")
    experiment: str = "pqa-bridge"
    registered_model: str = "pqa-propensity"
    bags: int = Field(
        5, ge=1, description="LightGBM fits with different seeds, averaged (1 = one fit)."
    )
    monotone: bool = Field(
        True,
        description="Hold LightGBM to each feature's expected direction (see the catalog).",
    )
    lightgbm: dict[str, float | int | str] = Field(default_factory=dict)


class Play(_Strict):
    owner: str
    description: str


def _default_plays() -> dict[str, Play]:
    return {
        "wait": Play(owner="none", description="Too early: let the account find its value."),
        "nurture": Play(
            owner="product", description="Make paid features visible inside the product."
        ),
        "find_buyer": Play(
            owner="marketing",
            description="Account-based marketing toward the executive buyer.",
        ),
        "consolidate_secure": Play(
            owner="sales", description="Offer one secure workspace with SSO for all silos."
        ),
        "value_discovery": Play(
            owner="sales", description="Run a pilot or value discovery session, not a budget ask."
        ),
        "enterprise_conversation": Play(
            owner="sales", description="Open the enterprise conversation with the buyer."
        ),
    }


class Scoring(_Strict):
    """Tiers, plays and what "too early" means."""

    tier_shares: dict[str, float] = Field(
        default_factory=lambda: {"A": 0.02, "B": 0.08, "C": 0.30},
        description="Share of training accounts in each tier above D, best first.",
    )
    young_account_days: int = Field(30, ge=0)
    reasons: int = Field(3, ge=1, le=10, description="Reasons up and down per account.")
    plays: dict[str, Play] = Field(default_factory=_default_plays)


class Config(_Strict):
    """The whole configuration of one product."""

    events: EventVocabulary = Field(default_factory=EventVocabulary)
    pages: PageVocabulary = Field(default_factory=PageVocabulary)
    personal_domains: list[str] = Field(default_factory=list)
    conversion: Conversion = Field(default_factory=Conversion)
    snapshots: Snapshots = Field(default_factory=Snapshots)
    pqa_rules: PQARules = Field(default_factory=PQARules)
    training: Training = Field(default_factory=Training)
    scoring: Scoring = Field(default_factory=Scoring)

    @field_validator("personal_domains")
    @classmethod
    def _lowercase_domains(cls, domains: list[str]) -> list[str]:
        return sorted({d.strip().lower().lstrip("@") for d in domains if d.strip()})

    def fingerprint(self) -> str:
        """A short stable hash of the settings, used to key cached work."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{source} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must hold a mapping of sections (events, pages, ...); "
            f"got {type(data).__name__}."
        )
    return data


def default_config_dict() -> dict[str, Any]:
    text = resources.files("pqa").joinpath(DEFAULT_CONFIG_RESOURCE).read_text()
    return _read_yaml(text, "the built-in default config")


def _describe(err: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    for problem in err.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{where}': remove it or check its spelling")
        else:
            got = problem.get("input")
            shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
            lines.append(f"  - {where}: {problem['msg']}{shown}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = "config") -> Config:
    """Lay ``data`` over the defaults section by section and validate the result."""
    merged = default_config_dict()
    merged.update(data)
    try:
        config = Config.model_validate(merged)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None
    _check_rule_features(config, source)
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Load the config at ``path``, or the built-in default when ``path`` is None."""
    if path is None:
        return parse_config({}, "the built-in default config")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist.") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"config file {path} cannot be read: {err}") from err
    return parse_config(_read_yaml(text, f"config file {path}"), f"config file {path}")


def _check_rule_features(config: Config, source: str) -> None:
    """Reject rules over features the pipeline does not compute."""
    from features.catalog import FEATURES

    for rule in config.pqa_rules.all_rules():
        spec = FEATURES.get(rule.feature)
        if spec is None:
            raise ConfigError(
                f"{source}: PQA rule '{rule.name}' uses unknown feature '{rule.feature}'. "
                "Run 'pqa features --list' for the feature names."
            )
        if spec.kind == "numeric" and not isinstance(rule.value, int | float):
            raise ConfigError(
                f"{source}: PQA rule '{rule.name}' compares numeric feature "
                f"'{rule.feature}' with {rule.value!r}; give a number."
            )
        if spec.kind != "numeric" and rule.op not in ("==", "!="):
            raise ConfigError(
                f"{source}: PQA rule '{rule.name}' uses '{rule.op}' on {spec.kind} feature "
                f"'{rule.feature}'; only '==' and '!=' apply."
            )
