"""The data contract between ingestion and the feature pipeline.

``pqa ingest`` turns raw Segment exports into the tables below, written as Parquet
in one output directory. Every timestamp is UTC. Raw email addresses never leave
ingestion: only the lowercase domain is kept.
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

EVENTS_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),  # track | page | identify | group
        ("timestamp", TIMESTAMP),
        # The user the event belongs to: the message's userId, else the userId that an
        # identify call later tied to its anonymousId; null when never identified.
        ("user_id", pa.string()),
        ("anonymous_id", pa.string()),
        # The moment the event became attributable to user_id: its own timestamp when
        # the message carried a userId, else the time of the stitching identify call.
        # Point-in-time features at D use an event only when both times are before D.
        ("attributed_at", TIMESTAMP),
        # context.groupId for track/page, groupId for group calls; null otherwise.
        ("workspace_id", pa.string()),
        ("event", pa.string()),  # track event name, or page name
        ("path", pa.string()),  # page path (lowercase), from properties.path or .url
        # Role from the config's vocabulary: value, collaboration, invite, user_added,
        # admin_change (role_change to an admin value), role_change (any other value),
        # page_pricing, page_security, page_legal, page_enterprise; null otherwise.
        ("role", pa.string()),
    ]
)

IDENTITIES_SCHEMA = pa.schema(
    [
        # One row per identify call that carried a userId.
        ("user_id", pa.string()),
        ("timestamp", TIMESTAMP),
        ("email_domain", pa.string()),  # lowercase; null when no email trait
        ("is_personal_domain", pa.bool_()),
        ("title", pa.string()),
        ("company_size", pa.string()),  # onboarding answer as given, e.g. "51-200"
        ("department", pa.string()),
        ("seniority", pa.string()),
        ("use_case", pa.string()),
    ]
)

GROUPS_SCHEMA = pa.schema(
    [
        # One row per group call: user_id joined workspace_id at timestamp.
        ("workspace_id", pa.string()),
        ("user_id", pa.string()),
        ("timestamp", TIMESTAMP),
        ("name", pa.string()),
        ("plan", pa.string()),
        ("employees", pa.float64()),
        ("industry", pa.string()),
        ("website_domain", pa.string()),
    ]
)

CRM_ACCOUNTS_SCHEMA = pa.schema(
    [
        ("crm_account_id", pa.string()),
        ("domain", pa.string()),  # lowercase, from Website
        ("employees", pa.float64()),
        ("industry", pa.string()),
    ]
)

OPPORTUNITIES_SCHEMA = pa.schema(
    [
        ("opportunity_id", pa.string()),
        ("crm_account_id", pa.string()),
        ("domain", pa.string()),  # joined from the CRM account's Website
        ("stage", pa.string()),
        ("amount", pa.float64()),
        ("created_date", TIMESTAMP),
        ("close_date", TIMESTAMP),
        ("is_closed", pa.bool_()),
        ("is_won", pa.bool_()),
        ("type", pa.string()),
    ]
)

TABLES = {
    "events": EVENTS_SCHEMA,
    "identities": IDENTITIES_SCHEMA,
    "groups": GROUPS_SCHEMA,
    "crm_accounts": CRM_ACCOUNTS_SCHEMA,
    "opportunities": OPPORTUNITIES_SCHEMA,
}
"""Table name -> schema. ``events`` is a directory of Parquet parts (``events/*.parquet``);
the others are single files ``<name>.parquet``. CRM tables are empty when the data
directory has no ``crm/`` folder."""

SEGMENT_TYPES_USED = ("identify", "group", "track", "page")
SEGMENT_TYPES_COUNTED = ("screen", "alias")
"""Valid Segment types the pipeline does not use: counted in the ingest report, not kept."""
