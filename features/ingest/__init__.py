"""Ingestion: raw Segment exports and a Salesforce CRM export -> normalized tables.

- :func:`ingest` reads a data directory and writes the tables of :mod:`pqa.contract`;
- :func:`ensure_ingested` does so once per unchanged input and config (a cache);
- :func:`normalize_messages` applies the same normalization to in-memory messages.
"""

from features.ingest.cache import ensure_ingested
from features.ingest.online import normalize_messages
from features.ingest.pipeline import ingest
from features.ingest.report import IngestReport

__all__ = ["IngestReport", "ensure_ingested", "ingest", "normalize_messages"]
