"""One source within a run: open it, load its chunks batch by batch, record the outcome.

Each chunk is written in one transaction together with its rejects, any new assets and
aliases, the source's counters and (for files, or on the final chunk) its checkpoint, so a
crash never leaves rows without the checkpoint that covers them or the reverse.

The incremental cutoff is per record id: a row is skipped (and counted) only when its own id
had a stored row newer than the row by more than the lookback *before the run*
(``latest_records``), so no single row, however far ahead it is stamped, can make another
coin's rows, or a new coin's, look old. The high-water mark (the newest row loaded, reported
in the checkpoint and the run) advances only with the final chunk.

Rejects are counted, tallied by kind and stored up to ``max_rejects_stored`` per run
(``etl.reject_log``); a source that rejects more than ``max_reject_ratio`` of what it read
ends ``failed`` with an error naming the commonest problems (likely schema drift), its good
rows kept. A file that drifted loses its resume position, so the next run reads it again and
fails again until it is fixed, as an API source does on every fetch.

A source the database fails (locked past ETL_LOCK_TIMEOUT_SECONDS, unreachable, or its
statement cancelled by a stop) ends ``failed`` with ``database: …`` (``stopped: …`` when
stopping) and sets ``database_failed``. Its end is written through the run's
``Bookkeeper``, which retries within a bound and else owes it to the run's final record.
"""

from __future__ import annotations

import functools
import logging
import operator
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import NamedTuple

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from kasparro.db import etl_reads, latest, load, runs
from kasparro.db.engine import is_postgresql, is_unavailable
from kasparro.db.outcomes import RunStatus
from kasparro.db.runs import SourceFinal
from kasparro.etl.api_sources import (
    coingecko_item,
    coingecko_pages,
    coinpaprika_item,
    coinpaprika_pages,
    validated_chunks,
)
from kasparro.etl.assets import AssetResolver, SeedAsset
from kasparro.etl.bookkeeping import Bookkeeper, first_line
from kasparro.etl.config import EtlConfig
from kasparro.etl.csv_layouts import CSV2_LAYOUT, CSV_LAYOUT
from kasparro.etl.csv_source import CsvSource
from kasparro.etl.errors import SchemaDriftError, SourceError, StoppedError
from kasparro.etl.http import Fetcher, FetchLimits, Response, RetryPolicy
from kasparro.etl.model import Chunk, Row
from kasparro.etl.prefetch import prefetched
from kasparro.etl.progress import Counters, ProgressEvent, SourceSummary
from kasparro.etl.reject_log import RejectLog
from kasparro.etl.validate import TimestampParser, stamp_datetime, stamp_text

log = logging.getLogger(__name__)

FILE_SOURCES = ("csv", "csv2")
SQLITE_GROUP_ROWS = 50_000
"""On SQLite a file source commits every this many rows (a batch still is the unit of work
and of progress): each commit rewrites every index page the rows touched, so fewer, larger
transactions load several times faster. Stopping commits at once."""

Progress = Callable[[ProgressEvent], None]

_row_key = operator.itemgetter(*map(Row._fields.index, ("record_id", "timestamp")))
"""A row's (record_id, timestamp), its key within the source: an ``itemgetter``, as it
runs once per row (reading the two attributes cost twice as much)."""
_staged_key = operator.itemgetter(*map(load.StagedRow._fields.index, ("record_id", "timestamp")))
"""The same key of a staged row."""


class CommittedState(NamedTuple):
    """A source run's state as of its last write: counters, high-water mark, rejects stored."""

    counters: Counters
    high_water: str | None
    rejects_stored: int


class SourceJob:
    """Runs one source for run ``run_id``; ``run()`` never raises for a source failure."""

    def __init__(
        self,
        engine: Engine,
        config: EtlConfig,
        run_id: int,
        source: str,
        *,
        client: httpx.Client,
        policy: RetryPolicy,
        seeds: list[SeedAsset],
        progress: Progress,
        stop: threading.Event,
        book: Bookkeeper,
    ) -> None:
        self.engine, self.config, self.run_id, self.source = engine, config, run_id, source
        self._client, self._policy, self._seeds = client, policy, seeds
        self._progress, self._stop, self._book = progress, stop, book
        self.database_failed = False
        """True after ``run`` when the database failed the source (locked, unreachable): the
        run's other sources would only wait for it in turn."""
        self._state = CommittedState(Counters(), None, 0)
        self._newest_loaded: str | None = None
        """The newest row timestamp loaded so far: the high-water mark of the final chunk."""
        self._checkpoint_before: str | None = None
        """The high-water mark the source had when the run started."""
        self._heads: dict[str, str] = {}
        """Record id → newest timestamp stored (before the run, then as written)."""
        self._processed_before: dict[str, str] = {}
        """Record id → its rows older than this were processed before the run."""
        self._rejects = RejectLog(config.max_rejects_stored, config.max_reject_ratio)
        self._fast_path = True

    def run(self) -> SourceSummary:
        started, clock = datetime.now(UTC), time.monotonic()
        try:
            with self.engine.begin() as conn:
                high_water, fingerprint = etl_reads.read_checkpoint(conn, self.source)
                runs.start_source(conn, self.run_id, self.source, started, high_water)
                resolver = AssetResolver(
                    self.source,
                    self._seeds,
                    etl_reads.read_assets(conn),
                    etl_reads.read_aliases(conn),
                )
                heads = etl_reads.read_heads(conn, self.source)
        except SQLAlchemyError as exc:
            if not is_unavailable(exc):
                raise
            self.database_failed = True
            why = f"database: could not start the source: {first_line(exc)}"
            log.warning("source %s failed: %s", self.source, why, extra=self._log_context)
            duration = int((time.monotonic() - clock) * 1000)
            return SourceSummary(self.source, RunStatus.FAILED, Counters(), why, duration)
        if high_water is not None:
            self._checkpoint_before = self._newest_loaded = stamp_text(high_water)
            self._state = CommittedState(Counters(), self._checkpoint_before, 0)
        lookback = timedelta(seconds=self.config.lookback_seconds)
        self._heads = {key: stamp_text(head) for key, head in heads.items()}
        self._processed_before = {key: stamp_text(head - lookback) for key, head in heads.items()}
        self._progress(ProgressEvent(self.source, "source_started"))
        status, error, note = RunStatus.SUCCESS, None, None
        drifted = False
        max_future = timedelta(seconds=self.config.max_future_seconds)
        try:
            chunks = self._open(fingerprint, TimestampParser(started, max_future))
            if chunks is None:
                note = "file unchanged since the last run; not read"
            else:
                self._load_all(chunks, resolver)
                counters = self._state.counters
                drift = self._rejects.drift(counters.rows_read, counters.rejected)
                if drift is not None:
                    raise SchemaDriftError(self.source, drift)
        except SchemaDriftError as exc:
            status, error = RunStatus.FAILED, str(exc)
            log.warning("source %s failed: %s", self.source, error, extra=self._log_context)
            drifted = True
        except SourceError as exc:
            status, error = RunStatus.FAILED, str(exc)
            log.warning("source %s failed: %s", self.source, error, extra=self._log_context)
        except Exception as exc:  # the source boundary: log it, run the others
            status, error = RunStatus.FAILED, self._database_failure(exc)
            if error is None:
                error = f"internal error: {type(exc).__name__}: {exc}"
                log.exception("source %s failed unexpectedly", self.source, extra=self._log_context)
        c, committed_high, stored = self._state
        note = note or self._rejects.note(c.rejected, stored)
        checkpoint = stamp_datetime(committed_high) if committed_high else None
        end = SourceFinal(
            self.source,
            c._asdict(),
            checkpoint,
            status,
            error,
            datetime.now(UTC),
            note,
            forget_position=drifted and self.source in FILE_SOURCES,
        )
        record = functools.partial(runs.record_source_end, run_id=self.run_id, end=end)
        if not self._book.write(f"the end of source {self.source}", record):
            self._book.owe_source(end)
        outcome = {**self._log_context, "status": status, **c._asdict()}
        if c.rejected:
            outcome["reject_kinds"] = dict(self._rejects.commonest(5))
        log.info("source %s finished: %s", self.source, status, extra=outcome)
        self._progress(ProgressEvent(self.source, "source_finished", c, status, error, note))
        return SourceSummary(
            self.source,
            status,
            c,
            error,
            int((time.monotonic() - clock) * 1000),
            stamp_datetime(self._checkpoint_before) if self._checkpoint_before else None,
            checkpoint,
            note,
        )

    def _database_failure(self, exc: Exception) -> str | None:
        """The error of a source the database failed (logged), or None for other failures.

        Locked, cancelled by a stop, or gone: no bug, and the next sources would fare no
        better (unless it was the stop, which ends them anyway).
        """
        if not is_unavailable(exc):
            return None
        self.database_failed = True
        if self._stop.is_set():
            error = str(StoppedError(self.source))
        else:
            error = f"database: {first_line(exc)}"
        log.warning("source %s failed: %s", self.source, error, extra=self._log_context)
        return error

    @property
    def _log_context(self) -> dict[str, object]:
        """``extra`` for this source's log lines: its run and name."""
        return {"run_id": self.run_id, "source": self.source}

    def _open(self, fingerprint: str | None, parse_time: TimestampParser) -> Iterator[Chunk] | None:
        config, batch = self.config, self.config.batch_size
        if self.source in ("csv", "csv2"):
            path = config.csv_path if self.source == "csv" else config.csv2_path
            layout = CSV_LAYOUT if self.source == "csv" else CSV2_LAYOUT
            reader = CsvSource(
                self.source,
                path,
                layout,
                fingerprint,
                config.csv_max_row_bytes,
                config.csv_max_row_lines,
            )
            if reader.unchanged():
                return None
            chunks = reader.chunks(parse_time, batch, self._rejects)
            # Read ahead only where the write happens outside this process: SQLite works in
            # this process under the GIL, and a parsing thread only slowed it (BENCHMARKS.md).
            return prefetched(chunks, depth=1) if is_postgresql(self.engine) else chunks
        if self.source == "coinpaprika":
            fetcher = self._fetcher(Authorization=config.coinpaprika_api_key)
            pages = coinpaprika_pages(fetcher, config.coinpaprika_base_url)
            validate = coinpaprika_item
        else:
            fetcher = self._fetcher(**{"x-cg-demo-api-key": config.coingecko_api_key})
            pages = coingecko_pages(fetcher, config.coingecko_base_url, config.coingecko_pages)
            validate = coingecko_item
        return validated_chunks(
            self.source, pages, validate, parse_time, batch, self._keep, rejects=self._rejects
        )

    def _fetcher(self, **headers: str | None) -> Fetcher:
        """A fetcher for this source sending ``headers`` (its API key, when configured)."""
        return Fetcher(
            self._client,
            self.source,
            self._policy,
            {name: value for name, value in headers.items() if value},
            limits=FetchLimits.from_config(self.config),
            stop=self._stop,
            log_context=self._log_context,
        )

    def _keep(self, response: Response) -> None:
        with self.engine.begin() as conn:
            load.store_payload(
                conn,
                self.run_id,
                self.source,
                response.url,
                response.status_code,
                response.fetched_at,
                response.content,
                self.config.raw_payload_retention,
            )

    def _load_all(self, chunks: Iterator[Chunk], resolver: AssetResolver) -> None:
        """Load every chunk; commit after each one, or (SQLite files) every GROUP_ROWS rows.

        Counters and the committed checkpoint change only when a transaction commits, and
        so does ``latest_records``: the newest row per key written by the transaction's
        chunks is upserted once, just before its commit.
        """
        sqlite_file = self.engine.dialect.name == "sqlite" and self.source in FILE_SOURCES
        group = SQLITE_GROUP_ROWS if sqlite_file else 0
        state = self._state
        heads = latest.Newest()
        conn: Connection | None = None
        waiting = 0
        try:
            for chunk in chunks:
                if conn is None:
                    conn = self.engine.connect()
                    conn.begin()
                    heads.clear()
                state = self._load(conn, chunk, resolver, state, heads)
                waiting += chunk.read
                stopping = self._stop.is_set() and not chunk.last
                if chunk.last or stopping or waiting >= group:
                    heads.upsert(conn, self.source)
                    conn.commit()
                    conn.close()
                    conn, waiting = None, 0
                    self._state = state
                if stopping:
                    raise StoppedError(self.source)
        finally:
            if conn is not None:
                conn.close()  # rolls back what was not committed
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # stops a read-ahead worker

    def _load(
        self,
        conn: Connection,
        chunk: Chunk,
        resolver: AssetResolver,
        state: CommittedState,
        heads: latest.Newest,
    ) -> CommittedState:
        """Write one chunk inside ``conn``'s transaction; return the state after it.

        Every staged row is in ``records`` with its values afterwards (inserted, corrected or
        already equal), so each is offered to ``heads``.
        """
        rows, processed_before = chunk.rows, self._processed_before
        kept = (
            [row for row in rows if row.timestamp >= processed_before.get(row.record_id, "")]
            if processed_before
            else rows
        )
        unique = dict(zip(map(_row_key, kept), kept, strict=True))
        same = changed = 0
        if len(unique) != len(kept):
            for row in kept:
                winner = unique[_row_key(row)]
                if row is not winner:
                    same, changed = (same + 1, changed) if row == winner else (same, changed + 1)
        staged: list[load.StagedRow] = []
        if unique:
            # Column by column, so that no Python code runs per row but the asset lookup:
            # new(StagedRow, …) is StagedRow(…) without its Python-level __new__.
            ids, stamps, symbols, names, values, caps, vols = zip(*unique.values(), strict=True)
            asset_ids = resolver.resolve_all(ids, symbols, names)
            columns = zip(ids, stamps, asset_ids, symbols, names, values, caps, vols, strict=True)
            staged = list(map(tuple.__new__, repeat(load.StagedRow), columns))
            newest = max(stamps)
            if self._newest_loaded is None or newest > self._newest_loaded:
                self._newest_loaded = newest
        now = datetime.now(UTC)
        pending = resolver.take_pending()
        load.insert_assets(
            conn,
            self.source,
            [(a.id, a.symbol, a.name) for a in pending.assets],
            [(a.record_id, a.asset_id, a.method) for a in pending.aliases],
            now,
        )
        merged = self._write(conn, staged, now)
        heads.add(staged)
        to_store = ((r.locator, r.reason, r.raw) for r in chunk.rejects)
        stored = load.insert_rejects(conn, self.run_id, self.source, to_store, now)
        counters = state.counters.plus(
            Counters(
                chunk.read,
                merged.inserted,
                merged.updated + changed,
                merged.unchanged + same,
                len(rows) - len(kept),
                chunk.rejected,
            )
        )
        high = self._newest_loaded if chunk.last else state.high_water
        if chunk.last or chunk.position is not None:
            load.write_checkpoint(
                conn,
                self.source,
                stamp_datetime(high) if high else None,
                chunk.position,
                self.run_id,
                now,
            )
        runs.update_source(
            conn,
            self.run_id,
            self.source,
            counters._asdict(),
            checkpoint=stamp_datetime(high) if high else None,
        )
        self._progress(ProgressEvent(self.source, "batch", counters))
        return CommittedState(counters, high, state.rejects_stored + stored)

    def _write(
        self, conn: Connection, staged: list[load.StagedRow], now: datetime
    ) -> load.MergeCounts:
        """Write ``staged`` rows: those newer than their id's head by the fast path, the rest
        merged.

        An id's head is the newest timestamp stored for it: ``latest_records`` before the
        run, raised by every write of the run. No stored row of the id is newer, so a newer
        row is a new key and needs no conflict check. Should a stored key turn up all the
        same (a row written behind the ETL's back), the fast insert rolls back and the whole
        chunk is merged instead; the fast path stays off for the rest of this source's run.
        """
        heads = self._heads
        fresh: list[load.StagedRow] = []
        rest: list[load.StagedRow] = []
        for row, (record_id, stamp) in zip(staged, map(_staged_key, staged), strict=True):
            (fresh if stamp > heads.get(record_id, "") else rest).append(row)
        for record_id, stamp in map(_staged_key, fresh):
            if stamp > heads.get(record_id, ""):
                heads[record_id] = stamp
        if not fresh or not self._fast_path:
            return load.upsert_records(conn, self.source, staged, self.run_id, now)
        if not load.insert_fresh_records(conn, self.source, fresh, self.run_id, now):
            self._fast_path = False
            log.info(
                "source %s: rows above the checkpoint exist already; merging every row",
                self.source,
                extra={"source": self.source},
            )
            return load.upsert_records(conn, self.source, staged, self.run_id, now)
        if len(fresh) == len(staged):
            return load.MergeCounts(len(fresh), 0, 0)
        merged = load.upsert_records(conn, self.source, rest, self.run_id, now)
        return load.MergeCounts(merged.inserted + len(fresh), merged.updated, merged.unchanged)
