"""The ingest report: what came in, what was kept, what was set aside and why.

Every input record is counted exactly once, so that

    input_records = accepted + duplicates + quarantined

holds exactly. Input records are the non-blank lines of the JSON Lines files, the rows of
the Parquet event files and the data rows of the CRM CSV files. ``accepted`` counts the
valid records, which are:

- events kept in the tables, by Segment type (``accepted_by_type``: identify, group,
  track, page);
- valid Segment messages of types the tool does not use (``counted_unused``: screen,
  alias), counted but not written;
- CRM rows kept (``crm_accepted``: accounts, opportunities).

So ``accepted = sum(accepted_by_type) + sum(counted_unused) + sum(crm_accepted)``.
``duplicates`` are resent copies of a messageId; ``quarantined`` records are in
quarantine.jsonl, counted by reason in ``by_reason``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPORT_FILE = "ingest_report.json"


@dataclass
class IngestReport:
    """Counts and timings of one ingestion run; see the module docstring for the identity."""

    input_records: int = 0
    duplicates: int = 0
    by_reason: Counter = field(default_factory=Counter)
    accepted_by_type: Counter = field(default_factory=Counter)
    counted_unused: Counter = field(default_factory=Counter)
    crm_accepted: Counter = field(default_factory=Counter)
    accounts: int = 0
    workspaces: int = 0
    users: int = 0
    files: int = 0
    event_records: int = 0
    seconds: float = 0.0

    @property
    def quarantined(self) -> int:
        return sum(self.by_reason.values())

    @property
    def accepted(self) -> int:
        return (
            sum(self.accepted_by_type.values())
            + sum(self.counted_unused.values())
            + sum(self.crm_accepted.values())
        )

    @property
    def events_per_second(self) -> float:
        """Event records (lines or Parquet rows) read per second of the whole run."""
        return self.event_records / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready values, keys in a fixed order."""
        return {
            "input_records": self.input_records,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "by_reason": dict(sorted(self.by_reason.items())),
            "accepted_by_type": dict(sorted(self.accepted_by_type.items())),
            "counted_unused": {k: self.counted_unused.get(k, 0) for k in ("screen", "alias")},
            "crm_accepted": {k: self.crm_accepted.get(k, 0) for k in ("accounts", "opportunities")},
            "accounts": self.accounts,
            "workspaces": self.workspaces,
            "users": self.users,
            "files": self.files,
            "event_records": self.event_records,
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> IngestReport:
        """Load a report written by :meth:`write`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            input_records=data["input_records"],
            duplicates=data["duplicates"],
            by_reason=Counter(data["by_reason"]),
            accepted_by_type=Counter(data["accepted_by_type"]),
            counted_unused=Counter(data["counted_unused"]),
            crm_accepted=Counter(data.get("crm_accepted", {})),
            accounts=data["accounts"],
            workspaces=data["workspaces"],
            users=data["users"],
            files=data["files"],
            event_records=data.get("event_records", 0),
            seconds=data["seconds"],
        )
