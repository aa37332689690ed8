"""The ``pqa`` command line: simulate, ingest, features, label, train, score, serve.

Heavy libraries (MLflow, BentoML, LightGBM) are imported inside the commands that need
them, so ``pqa --help`` and the data commands start quickly.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pqa.config import Config, load_config
from pqa.logs import LEVELS, configure_logging

logger = logging.getLogger(__name__)
console = Console(stderr=False)

app = typer.Typer(
    help=(
        "PQA Bridge: find the free accounts that are ready for an enterprise contract.\n\n"
        "Start with 'pqa demo' to run the whole job on a built-in synthetic product."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config mapping your product's vocabulary; built-in default if omitted.",
        dir_okay=False,
    ),
]
DataArgument = Annotated[
    Path, typer.Argument(help="Data directory with events/ and optionally crm/.")
]


@app.callback()
def _main(
    log_level: Annotated[
        str, typer.Option("--log-level", help=f"One of {', '.join(LEVELS)}.")
    ] = "INFO",
) -> None:
    if log_level.upper() not in LEVELS:
        raise typer.BadParameter(
            f"got {log_level!r}; use one of {', '.join(LEVELS)}", param_hint="--log-level"
        )
    configure_logging(log_level)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``progress(done, total)`` callback drawing one rich progress bar."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _config(path: Path | None) -> Config:
    config = load_config(path)
    logger.info("Config: %s", path or "built-in default")
    return config


def _as_of(value: str, option: str = "--as-of") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise typer.BadParameter(
            f"got {value!r}; give a date as YYYY-MM-DD", param_hint=option
        ) from err


def _table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    columns = columns or (list(rows[0]) if rows else [])
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[_cell(row.get(column)) for column in columns])
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


# ----------------------------------------------------------------------------- data


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write the synthetic world to.")],
    accounts: Annotated[int, typer.Option(help="Number of companies.")] = 2000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 15,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same world.")] = 0,
    start: Annotated[str, typer.Option(help="First day of the history, YYYY-MM-DD.")] = (
        "2025-01-01"
    ),
    faults: Annotated[
        bool, typer.Option(help="Inject realistic faults to exercise ingestion.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Write a synthetic product world: Segment events, a CRM export and true probabilities."""
    cfg = _config(config)
    from pqa.simulator import simulate as run_simulation

    with progress_bar("Simulating companies") as progress:
        summary = run_simulation(
            out_dir,
            accounts=accounts,
            months=months,
            seed=seed,
            start=_as_of(start, "--start"),
            faults=faults,
            config=cfg,
            progress=progress,
        )
    _print_simulation(summary.to_dict(), out_dir)


def _print_simulation(summary: dict[str, Any], out_dir: Path) -> None:
    rows = [
        {"what": key.replace("_", " "), "count": f"{value:,}"}
        for key, value in summary.items()
        if isinstance(value, int) and not isinstance(value, bool)
    ]
    console.print(_table(f"Synthetic world in {out_dir}", rows))


@app.command()
def ingest(
    data_dir: DataArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the normalized tables.")],
    config: ConfigOption = None,
) -> None:
    """Validate, deduplicate and normalize raw exports into Parquet tables.

    Rejected records go to quarantine.jsonl with their file, line and reason; the counts
    are printed and written to ingest_report.json.
    """
    cfg = _config(config)
    from features.ingest import ingest as run_ingest

    with progress_bar("Ingesting") as progress:
        report = run_ingest(data_dir, cfg, out, progress=progress)
    _print_ingest(report.to_dict())
    console.print(f"Tables written to [bold]{out}[/bold]")


def _print_ingest(report: dict[str, Any]) -> None:
    totals = [
        {"what": key.replace("_", " "), "count": f"{report[key]:,}"}
        for key in ("input_records", "accepted", "duplicates", "quarantined")
        if key in report
    ]
    for key in ("accounts", "workspaces", "users"):
        if key in report:
            totals.append({"what": key, "count": f"{report[key]:,}"})
    console.print(_table("Ingestion", totals))
    by_type = report.get("accepted_by_type") or {}
    if by_type:
        rows = [{"type": k, "events": f"{v:,}"} for k, v in sorted(by_type.items())]
        console.print(_table("Events by type", rows))
    by_reason = report.get("by_reason") or {}
    if by_reason:
        rows = [{"reason": k, "records": f"{v:,}"} for k, v in sorted(by_reason.items())]
        console.print(_table("Rejected by reason (see quarantine.jsonl)", rows))


def _ingested_tables(data_dir: Path, cfg: Config):
    from features.ingest import ensure_ingested
    from features.tables import load_tables

    with progress_bar("Ingesting") as progress:
        ingest_dir = ensure_ingested(data_dir, cfg, progress=progress)
    logger.info("Normalized tables: %s", ingest_dir)
    return load_tables(ingest_dir)


def _snapshot_dates(
    as_of: list[str] | None, every: str | None, start: str | None, end: str | None
) -> list[datetime]:
    import pandas as pd

    dates = [pd.Timestamp(_as_of(d), tz="UTC") for d in as_of or []]
    if every:
        if every not in ("month", "week"):
            raise typer.BadParameter(f"got {every!r}; use month or week", param_hint="--every")
        if not (start and end):
            raise typer.BadParameter("--every needs --from and --to", param_hint="--every")
        from features.snapshots import as_of_range

        dates += as_of_range(_as_of(start, "--from"), _as_of(end, "--to"), every=every)
    if not dates:
        raise typer.BadParameter(
            "give at least one --as-of date, or --every with --from and --to",
            param_hint="--as-of",
        )
    return sorted(set(dates))


def _check_output(out: Path) -> None:
    """Reject an unsupported output file before any work is done."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(
            f"got {out.name!r}; use a .csv or .parquet file", param_hint="--out"
        )


def _write_frame(frame, out: Path) -> None:
    import json

    from pqa.io import atomic_path

    _check_output(out)
    with atomic_path(out) as staged:
        if out.suffix.lower() == ".parquet":
            frame.to_parquet(staged, index=False)
        else:
            flat = frame.copy()
            for column in flat.columns:
                if flat[column].map(lambda v: isinstance(v, list | tuple)).any():
                    flat[column] = flat[column].map(lambda v: json.dumps(list(v)))
            flat.to_csv(staged, index=False)


@app.command()
def features(
    data_dir: Annotated[Path | None, typer.Argument(help="Data directory.")] = None,
    as_of: Annotated[
        list[str] | None, typer.Option("--as-of", help="As-of date YYYY-MM-DD; repeatable.")
    ] = None,
    every: Annotated[
        str | None, typer.Option(help="'month' or 'week': a snapshot at every period start.")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First as-of date.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last as-of date.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help=".csv or .parquet")] = None,
    list_features: Annotated[
        bool, typer.Option("--list", help="List the features and what they mean.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Compute one row of account features per (account, as-of date), point in time."""
    from features.catalog import FEATURES

    if list_features:
        rows = [
            {"feature": s.name, "family": s.family, "kind": s.kind, "meaning": s.description}
            for s in FEATURES.values()
        ]
        console.print(_table("Features", rows))
        return
    if data_dir is None or out is None:
        raise typer.BadParameter("give DATA_DIR and --out (or --list)", param_hint="DATA_DIR")
    cfg = _config(config)
    _check_output(out)
    dates = _snapshot_dates(as_of, every, start, end)
    from features.snapshots import compute_features

    tables = _ingested_tables(data_dir, cfg)
    with progress_bar("Computing features") as progress:
        frame = compute_features(tables, cfg, dates, progress=progress)
    _write_frame(frame, out)
    console.print(f"{len(frame):,} snapshots x {frame.shape[1] - 2} features written to {out}")


@app.command()
def label(
    data_dir: DataArgument,
    as_of: Annotated[str, typer.Option("--as-of", help="As-of date YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", "-o", help=".csv or .parquet")],
    config: ConfigOption = None,
) -> None:
    """Label Product Qualified Accounts at an as-of date with the config's rules.

    Writes the PQA flag, the rules that fired with the values behind them, the first
    date the account was a PQA, and whether it becomes a PQA within the horizon.
    """
    cfg = _config(config)
    day = _as_of(as_of)
    _check_output(out)
    from features.pqa_rules import label_accounts

    tables = _ingested_tables(data_dir, cfg)
    with progress_bar("Evaluating rules"):
        result = label_accounts(tables, cfg, day)
    _write_frame(result, out)
    console.print(
        f"{int(result['pqa'].sum()):,} PQAs among {len(result):,} accounts at {as_of}; "
        f"written to {out}"
    )


# ----------------------------------------------------------------------------- models


@app.command()
def train(
    data_dir: DataArgument,
    config: ConfigOption = None,
    target: Annotated[
        str, typer.Option(help="'conversion' (CRM outcomes), 'pqa' (future PQA), or 'auto'.")
    ] = "auto",
    experiment: Annotated[
        str | None, typer.Option(help="MLflow experiment; default from the config.")
    ] = None,
    promote_model: Annotated[
        bool,
        typer.Option("--promote", help="Make it the champion if it beats the current one."),
    ] = False,
) -> None:
    """Train the rules baseline, a logistic regression and LightGBM; track them in MLflow."""
    if target not in ("auto", "conversion", "pqa"):
        raise typer.BadParameter(
            f"got {target!r}; use conversion, pqa or auto", param_hint="--target"
        )
    cfg = _config(config)
    from training.train import run_training

    with progress_bar("Training") as progress:
        result = run_training(
            data_dir,
            cfg,
            target=target,
            experiment=experiment,
            promote=promote_model,
            progress=progress,
        )
    console.print(
        _table(f"Out-of-time test metrics (target: {result.target})", result.summary_rows())
    )
    _print_registry_line(result)


def _print_registry_line(result) -> None:
    status = "promoted to champion" if result.promoted else "not promoted"
    console.print(
        f"Registered version [bold]{result.registered_version}[/bold] ({status}; "
        f"champion is version {result.champion_version}). See the runs with 'pqa ui'."
    )


@app.command()
def promote(
    version: Annotated[
        int | None, typer.Option(help="Registered version; default the latest.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Promote even if it is not better.")] = False,
    config: ConfigOption = None,
) -> None:
    """Move the 'champion' alias to a version that beats the champion on test PR-AUC."""
    from training.registry import promote as run_promote

    result = run_promote(_config(config), version=version, force=force)
    console.print(result.message)
    if not result.promoted and not result.unchanged_ok:
        raise typer.Exit(1)


@app.command()
def compare(
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment.")] = None,
    config: ConfigOption = None,
) -> None:
    """Print the tracked runs side by side."""
    from training.compare import compare_runs

    cfg = _config(config)
    frame = compare_runs(experiment or cfg.training.experiment)
    if frame.empty:
        console.print("No runs yet: train with 'pqa train DATA_DIR'.")
        return
    console.print(_table("Runs", frame.to_dict("records")))


@app.command()
def backtest(
    data_dir: DataArgument,
    cutoffs: Annotated[int, typer.Option(help="Number of rolling cut-off dates.")] = 3,
    config: ConfigOption = None,
) -> None:
    """Repeat the out-of-time split over several cut-offs; report metric stability."""
    from training.backtest import backtest as run_backtest

    cfg = _config(config)
    with progress_bar("Backtesting") as progress:
        frame = run_backtest(data_dir, cfg, cutoffs=cutoffs, progress=progress)
    console.print(_table("Backtest", frame.to_dict("records")))


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
) -> None:
    """Start the MLflow UI on the local store until Ctrl-C."""
    from training.ui import run_ui_until_interrupted

    run_ui_until_interrupted(host=host, port=port, echo=console.print)


# ----------------------------------------------------------------------------- scores


@app.command()
def score(
    data_dir: DataArgument,
    as_of: Annotated[str, typer.Option("--as-of", help="As-of date YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", "-o", help=".csv or .parquet")],
    model: Annotated[
        str | None, typer.Option(help="Model URI; default the registered champion.")
    ] = None,
    config: ConfigOption = None,
    top: Annotated[int, typer.Option(help="Accounts to print.")] = 10,
) -> None:
    """Score every account at an as-of date: propensity, tier, reasons, play and owner."""
    cfg = _config(config)
    day = _as_of(as_of)
    _check_output(out)
    from serving.batch import score_batch

    frame = score_batch(data_dir, cfg, day, model_uri=model, out=out)
    print_top_scores(frame, top)
    console.print(f"{len(frame):,} accounts scored; written to {out}")


def print_top_scores(frame, top: int) -> None:
    """Print the ``top`` accounts: propensity, tier, play and owner, then the reasons.

    A reason marked ``+`` pushes the propensity up, one marked ``-`` holds it back.
    """
    console.print(f"[bold]Top {min(top, len(frame))} accounts[/bold] (+ raises, - lowers)")
    for rank, row in enumerate(frame.head(top).to_dict("records"), start=1):
        flag = ", PQA" if row.get("pqa") else ""
        console.print(
            f"{rank:>2}. [bold]{row['account_id']}[/bold]  {row['propensity']:.1%} "
            f"(tier {row['tier']}{flag})  {row['play']} -> {row['owner']}"
        )
        for reason in row.get("reasons") or []:
            if isinstance(reason, dict):
                sign = "+" if reason.get("direction") == "up" else "-"
                console.print(f"      {sign} {reason['text']}", highlight=False)


@app.command()
def serve(
    model: Annotated[
        str | None, typer.Option(help="Model URI or BentoML tag; default the champion.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 3000,
    config: ConfigOption = None,
) -> None:
    """Serve scores over HTTP with BentoML (OpenAPI spec at /docs.json)."""
    from serving.model_store import serve_model

    serve_model(_config(config), model_uri=model, host=host, port=port)


# ----------------------------------------------------------------------------- demo


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(help="Where the demo data goes.")] = Path("demo"),
    accounts: Annotated[int, typer.Option(help="Companies in the synthetic world.")] = 2000,
    months: Annotated[int, typer.Option(help="Months of history.")] = 15,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run the whole job on a synthetic product: simulate, ingest, train, promote, score."""
    from pqa.simulator import simulate as run_simulation

    cfg = load_config()
    data_dir = out_dir / "data"
    console.rule("1. Simulate a product world")
    if (data_dir / "simulation.json").exists():
        console.print(f"Reusing the synthetic world in {data_dir}")
    else:
        with progress_bar("Simulating companies") as progress:
            summary = run_simulation(
                data_dir,
                accounts=accounts,
                months=months,
                seed=seed,
                config=cfg,
                progress=progress,
            )
        _print_simulation(summary.to_dict(), data_dir)

    console.rule("2. Ingest")
    import json

    from features.ingest import ensure_ingested
    from features.ingest.report import REPORT_FILE

    # the cache that training and scoring read, so that the events are ingested once
    with progress_bar("Ingesting") as progress:
        tables_dir = ensure_ingested(data_dir, cfg, progress=progress)
    _print_ingest(json.loads((tables_dir / REPORT_FILE).read_text()))
    console.print(f"Normalized tables in {tables_dir}")

    console.rule("3. Train, track and promote")
    from training.train import run_training

    with progress_bar("Training") as progress:
        result = run_training(data_dir, cfg, promote=True, progress=progress)
    console.print(
        _table(f"Out-of-time test metrics (target: {result.target})", result.summary_rows())
    )
    _print_registry_line(result)

    console.rule("4. Score the accounts")
    import pandas as pd

    from serving.batch import score_batch

    tables = _ingested_tables(data_dir, cfg)
    last_day = tables.events["timestamp"].max().normalize() + pd.Timedelta(days=1)
    scores_path = out_dir / "scores.csv"
    frame = score_batch(data_dir, cfg, last_day.date(), model_uri=None, out=scores_path)
    print_top_scores(frame, 10)
    console.print(f"All {len(frame):,} scores: {scores_path}")
    console.rule("Where to look")
    console.print(
        "Compare the models:   pqa compare   |   MLflow UI: pqa ui  (http://127.0.0.1:5000)\n"
        "Serve the champion:   pqa serve --port 3000\n"
        "Score over HTTP:      curl -s -X POST http://127.0.0.1:3000/metadata "
        "-H 'Content-Type: application/json' -d '{}'"
    )


def main() -> None:
    """Entry point: user mistakes end with a clear message and exit code 2, no traceback."""
    try:
        app()
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as err:
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            raise
        Console(stderr=True).print(f"[bold red]Error:[/bold red] {err}")
        Console(stderr=True).print("(run with --log-level DEBUG for the full traceback)")
        sys.exit(2)


if __name__ == "__main__":
    main()
