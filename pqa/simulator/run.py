"""Write a whole synthetic world to disk, chunk by chunk.

Companies are processed in chunks; each chunk's messages go to their own gzipped
JSON Lines part file, so memory stays flat however many companies there are. The
CRM export and the truth tables are streamed to CSV beside them, and
``simulation.json`` is written last, so its presence means the world is complete.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from pqa.config import Config, load_config
from pqa.io import atomic_path
from pqa.simulator.crm import ACCOUNT_COLUMNS, OPPORTUNITY_COLUMNS, company_crm
from pqa.simulator.events import (
    TYPES,
    Templates,
    anonymous_ids,
    company_events,
    format_lines,
    user_ids,
)
from pqa.simulator.faults import FAULT_KINDS, fault_lines
from pqa.simulator.vocabulary import build_vocabulary
from pqa.simulator.world import SIZE_BANDS, Calendar, Company, draw_company, truth_rows

logger = logging.getLogger(__name__)

CHUNK_COMPANIES = 500
"""Companies per part file."""

MAX_MONTHS = 36
_COMPRESSION = 1
_WRITE_BATCH = 50_000
TRUTH_COLUMNS = ("account_id", "as_of", "probability", "horizon_complete")
COMPANY_COLUMNS = (
    "company_index",
    "account_id",
    "personal",
    "employees",
    "size_band",
    "industry",
    "plan",
    "signup",
    "workspaces",
    "users",
    "decision_makers",
    "spike_days",
    "motion_day",
    "security_interest",
    "legal_interest",
    "pricing_interest",
    "enterprise_interest",
    "admin_change_days",
    "value_rate",
    "close_date",
)


@dataclass
class SimulationSummary:
    """What a simulation wrote: counts of companies, messages, CRM rows and faults.

    ``lines`` is the number of lines in the event files:
    ``events + sum(faults.values())``.
    """

    companies: int = 0
    personal_workspaces: int = 0
    workspaces: int = 0
    users: int = 0
    events: int = 0
    track: int = 0
    page: int = 0
    identify: int = 0
    group: int = 0
    lines: int = 0
    part_files: int = 0
    crm_accounts: int = 0
    opportunities: int = 0
    conversions: int = 0
    truth_rows: int = 0
    faults: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0))

    def add(self, other: SimulationSummary) -> None:
        for name, value in vars(other).items():
            if name == "faults":
                for kind, count in value.items():
                    self.faults[kind] += count
            else:
                setattr(self, name, getattr(self, name) + value)

    def to_dict(self) -> dict[str, int | dict[str, int]]:
        """Counts as plain ints, the fault counts under ``faults``."""
        out: dict[str, int | dict[str, int]] = {
            name: int(value) for name, value in vars(self).items() if name != "faults"
        }
        out["faults"] = {kind: int(n) for kind, n in self.faults.items()}
        return out


@dataclass(frozen=True)
class _Task:
    chunk: int
    first: int
    stop: int
    seed: int
    cal: Calendar
    config: Config
    faults: bool
    part: Path


@dataclass
class _ChunkResult:
    summary: SimulationSummary
    truth: list[tuple]
    accounts: list[tuple]
    opportunities: list[tuple]
    companies: list[tuple]


def simulate(
    out_dir: str | Path,
    *,
    accounts: int,
    months: int,
    seed: int,
    start: date = date(2025, 1, 1),
    faults: bool = False,
    config: Config | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = CHUNK_COMPANIES,
    workers: int | None = None,
) -> SimulationSummary:
    """Simulate a product world and write it to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write ``events/``, ``crm/``, ``truth/`` and ``simulation.json`` to.
    accounts : int
        Number of companies (at least 1).
    months : int
        Months of history, 1 to 36.
    seed : int
        Random seed (non-negative); the same seed gives the same bytes.
    start : date, default 2025-01-01
        First day of the history.
    faults : bool, default False
        Add duplicate, malformed, unknown-type and badly timed lines to the event files.
    config : Config, optional
        Vocabulary and conversion definition; the built-in default when omitted.
    progress : callable, optional
        Called as ``progress(companies_done, companies_total)`` after each chunk.
    chunk_size : int, default 500
        Companies per part file; does not change the simulated world.
    workers : int, optional
        Processes simulating chunks in parallel; default up to 2, one for small worlds.

    Returns
    -------
    SimulationSummary
        Counts of what was written (also saved as ``simulation.json``).
    """
    _validate(accounts, months, seed, start, chunk_size)
    config = config or load_config()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / "simulation.json"
    marker.unlink(missing_ok=True)

    began = time.perf_counter()
    cal = Calendar.build(start, months, config.conversion.horizon_days)
    bounds = list(range(0, accounts, chunk_size)) + [accounts]
    n_chunks = len(bounds) - 1
    total = SimulationSummary()
    with ExitStack() as stack:
        events_dir = stack.enter_context(atomic_path(out_dir / "events"))
        crm_dir = stack.enter_context(atomic_path(out_dir / "crm"))
        truth_dir = stack.enter_context(atomic_path(out_dir / "truth"))
        for folder in (events_dir, crm_dir, truth_dir):
            folder.mkdir()
        writers = {
            "truth": _csv(stack, truth_dir / "conversion_probability.csv", TRUTH_COLUMNS),
            "companies": _csv(stack, truth_dir / "companies.csv", COMPANY_COLUMNS),
            "accounts": _csv(stack, crm_dir / "accounts.csv", ACCOUNT_COLUMNS),
            "opportunities": _csv(stack, crm_dir / "opportunities.csv", OPPORTUNITY_COLUMNS),
        }
        tasks = [
            _Task(
                chunk=k,
                first=bounds[k],
                stop=bounds[k + 1],
                seed=seed,
                cal=cal,
                config=config,
                faults=faults,
                part=events_dir / f"part-{(n_chunks - 1 - k if faults else k):05d}.jsonl.gz",
            )
            for k in range(n_chunks)
        ]
        for result in _run(tasks, workers):
            total.add(result.summary)
            writers["truth"].writerows(result.truth)
            writers["companies"].writerows(result.companies)
            writers["accounts"].writerows(result.accounts)
            writers["opportunities"].writerows(result.opportunities)
            if progress is not None:
                progress(total.companies, accounts)

    with atomic_path(marker) as staged:
        staged.write_text(json.dumps(total.to_dict(), indent=2) + "\n")
    logger.info(
        "Simulated %d companies, %d events (%d conversions) in %.1f s into %s",
        total.companies,
        total.events,
        total.conversions,
        time.perf_counter() - began,
        out_dir,
    )
    return total


def _validate(accounts: int, months: int, seed: int, start: date, chunk_size: int) -> None:
    if isinstance(accounts, bool) or not isinstance(accounts, int) or accounts < 1:
        raise ValueError(f"accounts must be an integer >= 1; got {accounts!r}.")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValueError(f"months must be an integer from 1 to {MAX_MONTHS}; got {months!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}.")
    if not isinstance(start, date) or isinstance(start, datetime):
        raise ValueError(f"start must be a datetime.date such as date(2025, 1, 1); got {start!r}.")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size!r}.")


def _csv(stack: ExitStack, path: Path, columns: tuple[str, ...]):
    handle = stack.enter_context(path.open("w", newline="", encoding="utf-8"))
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(columns)
    return writer


def _run(tasks: list[_Task], workers: int | None) -> Iterator[_ChunkResult]:
    """Simulate the chunks in order, in worker processes when there are several."""
    if workers is None:
        workers = min(2, os.cpu_count() or 1, len(tasks))
    if workers <= 1 or len(tasks) <= 1:
        yield from map(simulate_chunk, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        yield from pool.map(simulate_chunk, tasks)


def simulate_chunk(task: _Task) -> _ChunkResult:
    """Simulate companies ``[task.first, task.stop)`` and write their part file."""
    cal, config, seed = task.cal, task.config, task.seed
    vocab = build_vocabulary(config)
    templates = Templates.build(vocab)
    personal_domains = list(config.personal_domains)
    start_ms = int(datetime(cal.start.year, cal.start.month, cal.start.day, tzinfo=UTC).timestamp())
    start_ms *= 1000
    end_iso = (cal.start + timedelta(days=cal.end_day)).isoformat()
    summary = SimulationSummary()
    result = _ChunkResult(summary, [], [], [], [])
    texts: list[str] = []
    stamps: list[np.ndarray] = []
    for index in range(task.first, task.stop):
        company = draw_company(seed, index, cal, personal_allowed=bool(personal_domains))
        events = company_events(company, cal, vocab, templates, personal_domains, seed, start_ms)
        lines = format_lines(company, events, templates)
        texts.extend(lines)
        stamps.append(np.concatenate([events.ts, events.trait_ts]))
        kinds = np.concatenate([templates.kinds[events.template], events.trait_kinds])
        counts = np.bincount(kinds, minlength=len(TYPES))
        for name, count in zip(TYPES, counts, strict=True):
            setattr(summary, name, getattr(summary, name) + int(count))
        summary.events += len(lines)
        if task.faults:
            extra, fault_counts = fault_lines(
                lines, index, user_ids(company), anonymous_ids(company), end_iso, seed
            )
            texts.extend(extra)
            stamps.append(np.zeros(len(extra), dtype=np.int64))
            for kind, count in fault_counts.items():
                summary.faults[kind] += count
        _record_company(company, cal, config, seed, result)

    if task.faults:
        order = np.random.default_rng([seed, task.chunk, 4]).permutation(len(texts))
    else:
        order = np.argsort(np.concatenate(stamps) if stamps else np.zeros(0), kind="stable")
    _write_part(task.part, [texts[i] for i in order.tolist()])
    summary.lines = len(texts)
    summary.part_files = 1
    return result


def _record_company(
    company: Company, cal: Calendar, config: Config, seed: int, result: _ChunkResult
) -> None:
    summary = result.summary
    summary.companies += 1
    summary.personal_workspaces += int(company.personal)
    summary.workspaces += len(company.workspace_created)
    summary.users += int((company.users.seen < cal.end_day).sum())
    converted = company.close_day is not None and company.close_day < cal.end_day
    summary.conversions += int(converted)
    truth = [
        (account, cal.day_to_date(day).isoformat(), f"{p:.10g}", str(complete).lower())
        for account, day, p, complete in truth_rows(company, cal)
    ]
    result.truth.extend(truth)
    summary.truth_rows += len(truth)
    accounts, opportunities = company_crm(company, cal, config, seed)
    result.accounts.extend(accounts)
    result.opportunities.extend(opportunities)
    summary.crm_accounts += len(accounts)
    summary.opportunities += len(opportunities)
    result.companies.append(_company_row(company, cal))


def _company_row(company: Company, cal: Calendar) -> tuple:
    users = company.users

    def days(values) -> str:
        return ";".join(cal.day_to_date(v).isoformat() for v in np.sort(np.asarray(values)))

    def spans(role: str) -> str:
        return ";".join(
            f"{cal.day_to_date(a).isoformat()}/{cal.day_to_date(b).isoformat()}"
            for a, b in company.interest[role]
        )

    return (
        company.index,
        company.account_id,
        str(company.personal).lower(),
        company.employees,
        SIZE_BANDS[company.band],
        company.industry,
        "team" if company.team_plan else "free",
        cal.day_to_date(company.signup).isoformat(),
        len(company.workspace_created),
        len(users),
        int((users.seniority >= 2).sum()),
        days(company.spikes),
        "" if company.motion is None else cal.day_to_date(company.motion).isoformat(),
        spans("security"),
        spans("legal"),
        spans("pricing"),
        spans("enterprise"),
        days(company.admin_changes),
        f"{company.value_rate:.4f}",
        "" if company.close_day is None else cal.day_to_date(company.close_day).isoformat(),
    )


def _write_part(path: Path, lines: list[str]) -> None:
    """Write gzipped JSON Lines with a fixed header, so equal input gives equal bytes."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=_COMPRESSION
        ) as handle,
    ):
        for first in range(0, len(lines), _WRITE_BATCH):
            batch = lines[first : first + _WRITE_BATCH]
            handle.write(("\n".join(batch) + "\n").encode("utf-8", "surrogateescape"))
