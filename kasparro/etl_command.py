"""``kasparro etl [--source NAME]…``: one ETL run in the foreground.

Migrates first, prints progress to stderr (each source as it starts, each committed batch,
each source's outcome) and a summary table to stdout. Exit codes: 0 success, 2 partial
(some sources failed), 1 failed, and 1 when the run was skipped because another process
holds the ETL lock, or when the database would not take the run's end (it stays
``running`` in ``etl_runs`` until the next run marks it interrupted; stderr says so). An
unknown ``--source`` is a usage error (exit 2, like any bad argument). SIGTERM or SIGINT
stops the run at its next batch boundary; it is recorded ``failed`` / ``stopped`` and the
exit status is 143 or 130 (``kasparro.run_signals``).

Everything printed goes through ``Terminal``, which escapes control characters (C0, C1,
ESC, bidi overrides and the other non-printable ones: ``kasparro.logs.printable``): errors
carry upstream text, which must not move the cursor or rewrite the operator's screen.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any, TextIO

from kasparro.db.cancel import StatementCanceller
from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from kasparro.db.outcomes import COUNTERS, RunStatus, counter_label
from kasparro.etl.bookkeeping import RunLedger
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.etl.pipeline import ProgressEvent, RunSummary, run_etl
from kasparro.etl.watchdog import StopWatchdog
from kasparro.logs import printable
from kasparro.run_signals import StopOnSignal
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


class Terminal:
    """The only way `kasparro etl` prints: each line with its control characters escaped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, lines: Iterable[str]) -> None:
        self._stream.write("".join(printable(line) + "\n" for line in lines))
        self._stream.flush()


class ProgressPrinter:
    """Writes one line per progress event."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal

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
        self._terminal.write([line])


def summary_table(summary: RunSummary) -> list[str]:
    """The run as the lines of a plain-text table, and a closing line naming the run and
    its status."""
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
    return [*lines, closing]


def cmd_etl(args: argparse.Namespace, settings: Settings) -> int:
    config = settings.etl_config()
    engine = create_db_engine(settings.app.database_url, timeouts=config.db_timeouts())
    out, err = Terminal(sys.stdout), Terminal(sys.stderr)
    ledger = RunLedger()
    stop, finished = threading.Event(), threading.Event()
    canceller = StatementCanceller(engine)
    watchdog = StopWatchdog(canceller, config.stop_grace_seconds, lambda: not finished.is_set())

    def first(signum: int) -> None:
        stop.set()
        watchdog.arm()
        name = signal.Signals(signum).name
        err.write(
            [
                f"kasparro etl: {name}: stopping at the next batch boundary "
                "(again: cancel the database work at once)"
            ]
        )

    def again() -> None:
        err.write(["kasparro etl: cancelling the database work now"])
        canceller.cancel_all()

    try:
        with StopOnSignal(first, again) as signals:
            upgrade(engine)
            summary = run_etl(
                engine,
                config,
                trigger="manual",
                sources=args.source,
                progress=ProgressPrinter(err),
                stop=stop,
                ledger=ledger,
            )
            finished.set()
            settled = ledger.settle(engine, config.bookkeeping_timeout_seconds)
            recorded = summary.recorded or settled
    finally:
        finished.set()
        watchdog.disarm()
        engine.dispose()
    out.write(summary_table(summary))
    if not recorded:
        err.write(
            [
                f"kasparro etl: run {summary.run_id} could not be recorded as "
                f"{summary.status}: the database refused the write; the next run will mark it "
                "interrupted"
            ]
        )
    if signals.received is not None:
        return 128 + signals.received
    return EXIT_CODES[summary.status] if recorded else 1
