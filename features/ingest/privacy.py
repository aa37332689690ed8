"""Keep email addresses out of every file ingestion writes."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)")


def mask_emails(text: str) -> str:
    """Replace the local part of every email address: ``bob@acme.io`` -> ``***@acme.io``."""
    return _EMAIL.sub(r"***@\1", text)
