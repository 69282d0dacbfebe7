"""``kasparro etl [--source NAME]…``: one ETL run in the foreground.

Migrates first, prints progress to stderr (each source as it starts, each committed batch,
each source's outcome) and a summary table to stdout. Exit codes: 0 success, 2 partial
(some sources failed), 1 failed, and 1 when the run was skipped because another process
holds the ETL lock, or when the database would not take the run's end (it stays
``running`` in ``etl_runs`` until the next run marks it interrupted; stderr says so). An
unknown ``--source`` is a usage error (exit 2, like any bad argument).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from kasparro.db.outcomes import COUNTERS, RunStatus, counter_label
from kasparro.etl.bookkeeping import RunLedger
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.etl.pipeline import ProgressEvent, RunSummary, run_etl
from kasparro.settings import Settings

EXIT_CODES = {
    RunStatus.SUCCESS: 0,
    RunStatus.PARTIAL: 2,
    RunStatus.FAILED: 1,
    RunStatus.SKIPPED: 1,
}
"""The exit code of a run that ended with each final status."""
COLUMNS = ("source", "status", *map(counter_label, COUNTERS), "seconds", "error")


def add_etl_parser(commands: Any) -> None:
    """Register the ``etl`` subcommand on an ``add_subparsers`` object."""
    etl = commands.add_parser("etl", help="run the ETL once in the foreground")
    etl.add_argument(
        "--source",
        action="append",
        choices=KNOWN_SOURCES,
        metavar="NAME",
        help=f"run only this source (repeatable; one of {', '.join(KNOWN_SOURCES)}; "
        "default ETL_SOURCES)",
    )
    etl.set_defaults(handler=cmd_etl)


class ProgressPrinter:
    """Writes one line per progress event."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: ProgressEvent) -> None:
        c = event.counters
        if event.kind == "source_started":
            line = f"{event.source}: started"
        elif event.kind == "batch":
            counts = (f"{n:,} {counter_label(name)}" for name, n in zip(COUNTERS, c, strict=True))
            line = f"{event.source}: {', '.join(counts)}"
        else:
            detail = event.error or event.note or f"{c.rows_read:,} read"
            line = f"{event.source}: {event.status} ({detail})"
        print(line, file=self._stream, flush=True)


def summary_table(summary: RunSummary) -> str:
    """The run as a plain-text table, with a closing line naming the run and its status."""
    rows = [
        (
            s.source,
            s.status,
            *map(str, s.counters),
            f"{s.duration_ms / 1000:.2f}",
            s.error or s.note or "",
        )
        for s in summary.sources
    ]
    widths = [max(len(row[i]) for row in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [COLUMNS, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    closing = f"run {summary.run_id}: {summary.status} in {summary.duration_ms / 1000:.2f}s"
    if summary.error:
        closing += f" ({summary.error})"
    return "\n".join([*lines, closing]) + "\n"


def cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    config = settings.etl_config()
    engine = create_db_engine(settings.database_url, timeouts=config.db_timeouts())
    ledger = RunLedger()
    try:
        upgrade(engine)
        summary = run_etl(
            engine,
            config,
            trigger="manual",
            sources=args.source,
            progress=ProgressPrinter(sys.stderr),
            ledger=ledger,
        )
        recorded = summary.recorded or ledger.settle(engine, config.bookkeeping_timeout_seconds)
    finally:
        engine.dispose()
    sys.stdout.write(summary_table(summary))
    if not recorded:
        print(
            f"kasparro etl: run {summary.run_id} could not be recorded as {summary.status}: "
            "the database refused the write; the next run will mark it interrupted",
            file=sys.stderr,
        )
        return 1
    return EXIT_CODES[summary.status]
