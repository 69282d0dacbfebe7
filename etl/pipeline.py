"""One ETL run over the enabled sources: ``run_etl``.

A run takes the ETL lock (``etl.lock``). If another run holds it, the attempt is recorded in
``etl_runs`` as ``skipped`` and returns at once (a scheduled tick, ``every``, records
nothing: see ``run_etl``). Otherwise it marks runs left ``running`` by
a dead process as ``failed``, records itself as ``running``, runs each source in turn
(``etl.source_job``: a failing source is recorded and the others still run) and finishes as
``success``, ``partial`` (some sources failed) or ``failed`` (all failed). A finished run
then deletes the rejects older than ``rejects_retention_days`` (REJECTS_RETENTION_DAYS).

``stop``: when set, the current source finishes the batch it is writing, commits it with its
checkpoint and fails with a "stopped" error; the sources not yet started are ``skipped``;
the run ends ``failed`` with the error ``stopped``. The next run resumes from the
checkpoints. (A statement that blocks, a ``COPY`` waiting for a locked table, does not see
the stop: ``etl.scheduler`` cancels it after ETL_STOP_GRACE_SECONDS, and its batch rolls
back.)

A source the database fails (locked past ETL_LOCK_TIMEOUT_SECONDS, unreachable) fails, and
the sources after it are ``skipped`` without trying: they would each wait as long. The
run's own bookkeeping goes through a ``Bookkeeper`` (retries within
ETL_BOOKKEEPING_TIMEOUT_SECONDS); an end the database will not take is owed to the
``RunLedger`` and the summary says ``recorded=False`` (``etl.bookkeeping``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kasparro.db import runs
from kasparro.db.outcomes import RunStatus
from kasparro.db.prune import prune
from kasparro.db.runs import RunFinal
from kasparro.etl.assets import load_seed
from kasparro.etl.bookkeeping import Bookkeeper, RunLedger
from kasparro.etl.config import KNOWN_SOURCES, EtlConfig
from kasparro.etl.errors import EtlError, UnknownSourceError
from kasparro.etl.http import FetchLimits, RetryPolicy, upstream_client
from kasparro.etl.lock import EtlLock
from kasparro.etl.progress import Counters, ProgressEvent, RunSummary, SourceSummary
from kasparro.etl.source_job import SourceJob

__all__ = [
    "Counters",
    "ProgressEvent",
    "RunSummary",
    "SourceSummary",
    "UnknownSourceError",
    "run_etl",
    "select_sources",
]

log = logging.getLogger(__name__)

LOCKED_ERROR = "another ETL run holds the lock"
STOPPED_ERROR = "stopped"
DATABASE_FAILED_ERROR = "not started: the database failed an earlier source of the run"


def select_sources(config: EtlConfig, sources: Sequence[str] | None) -> tuple[str, ...]:
    """The sources a run processes, in the canonical order; raise ``UnknownSourceError``.

    ``sources`` (when given) overrides the configured ones and may name any known source.
    """
    wanted = config.sources if sources is None else [s.strip().lower() for s in sources]
    unknown = [name for name in wanted if name not in KNOWN_SOURCES]
    if unknown:
        raise UnknownSourceError(unknown, KNOWN_SOURCES)
    return tuple(name for name in KNOWN_SOURCES if name in wanted)


def _ignore(event: ProgressEvent) -> None:
    return None


def run_etl(
    engine: Engine,
    config: EtlConfig,
    *,
    trigger: str = "manual",
    sources: Sequence[str] | None = None,
    http_client: httpx.Client | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    stop: threading.Event | None = None,
    retry: RetryPolicy | None = None,
    every: float | None = None,
    ledger: RunLedger | None = None,
) -> RunSummary:
    """Run the ETL once, synchronously, and return what happened (see the module docstring).

    ``http_client`` is used as is and left open; without one a client is made and closed
    here. ``retry`` overrides the retry policy built from ``config`` (tests shorten the
    backoff with it).

    ``every`` (seconds) makes this one tick of a schedule shared by every process on the
    database: it runs only when it gets the lock *and* no run that did work started less
    than ``every`` seconds ago; otherwise it returns ``skipped`` with no ``run_id`` and
    records nothing (N replicas on one interval run the ETL once per interval, not N times,
    and their ticks do not fill ``etl_runs`` with skipped rows).

    ``ledger`` keeps this process's runs whose end the database would not take yet
    (``etl.bookkeeping``); what it owes is written before this run starts. Without one, a
    run that cannot record its end returns ``recorded=False`` and leaves it to the next run.
    """
    names = select_sources(config, sources)
    stop = stop or threading.Event()
    ledger = ledger or RunLedger()
    started, clock = datetime.now(UTC), time.monotonic()
    with EtlLock(engine) as held:
        if every is not None:
            reason = _not_due(engine, held, started, every)
            if reason is not None:
                log.info("scheduled ETL run not needed: %s", reason, extra={"trigger": trigger})
                return RunSummary(None, RunStatus.SKIPPED, (), trigger, started, started, 0, reason)
        if not held:
            with engine.begin() as conn:
                run_id = runs.start_run(conn, trigger, started, status=RunStatus.SKIPPED)
                runs.finish_run(conn, run_id, RunStatus.SKIPPED, datetime.now(UTC), LOCKED_ERROR)
            log.warning("ETL run skipped: %s", LOCKED_ERROR, extra={"run_id": run_id})
            return RunSummary(
                run_id, RunStatus.SKIPPED, (), trigger, started, started, 0, LOCKED_ERROR
            )
        # This process's runs that ended unrecorded get their true end, not "interrupted".
        ledger.settle(engine, config.bookkeeping_timeout_seconds)
        with engine.begin() as conn:
            stale = runs.reconcile_stale(conn, started)
            run_id = runs.start_run(conn, trigger, started)
        ledger.started(run_id)
        book = Bookkeeper(engine, config.bookkeeping_timeout_seconds, stop)
        if stale:
            log.warning("marked %d interrupted run(s) failed", stale, extra={"run_id": run_id})
        log.info("ETL run started", extra={"run_id": run_id, "trigger": trigger})
        policy = retry or RetryPolicy(
            max_retries=config.http_max_retries,
            retry_after_max=config.http_retry_after_max_seconds,
        )
        client = http_client or upstream_client(FetchLimits.from_config(config))
        try:
            summaries = _run_sources(
                engine, config, run_id, names, client, policy, progress or _ignore, stop, book
            )
            status, error = _outcome(summaries, stop)
        except EtlError as exc:  # the run as a whole cannot go on (an unreadable asset seed)
            summaries, status, error = (), RunStatus.FAILED, str(exc)
            log.error("ETL run failed: %s", exc, extra={"run_id": run_id})
        except BaseException as exc:
            _finish(
                book,
                ledger,
                RunFinal(run_id, RunStatus.FAILED, f"aborted: {exc}", datetime.now(UTC)),
            )
            raise
        finally:
            if http_client is None:
                client.close()
        finished = datetime.now(UTC)
        recorded = _finish(book, ledger, RunFinal(run_id, status, error, finished))
    # After the lock: a run started the moment this one is recorded must not be skipped
    # for a prune of old rejects, which needs no lock.
    if recorded and config.rejects_retention_days and not stop.is_set():
        _prune_rejects(engine, config.rejects_retention_days, run_id)
    context = {"run_id": run_id, "trigger": trigger, "status": status, "error": error}
    log.info("ETL run finished: %s", status, extra=context)
    duration = int((time.monotonic() - clock) * 1000)
    return RunSummary(
        run_id, status, summaries, trigger, started, finished, duration, error, recorded
    )


def _finish(book: Bookkeeper, ledger: RunLedger, final: RunFinal) -> bool:
    """Record the run's end (with any source ends still owed); owe it when the database
    will not take it. True when recorded."""
    final = final._replace(sources=book.owed_sources)
    if book.write(f"the end of run {final.run_id}", lambda conn: runs.record_final(conn, final)):
        ledger.ended(final.run_id)
        return True
    ledger.owe(final)
    log.error(
        "ETL run %d ended %s but could not be recorded yet; this process will record it "
        "when the database accepts writes",
        final.run_id,
        final.status,
        extra={"run_id": final.run_id, "status": final.status},
    )
    return False


def _prune_rejects(engine: Engine, days: int, run_id: int) -> None:
    """Delete rejects older than ``days`` (REJECTS_RETENTION_DAYS), in short batches."""
    try:
        deleted = prune(engine, datetime.now(UTC) - timedelta(days=days), tables=["rejects"])
    except SQLAlchemyError as exc:  # the run is recorded already; the next run tries again
        log.warning("could not prune old rejects: %s", exc, extra={"run_id": run_id})
        return
    if deleted["rejects"]:
        log.info(
            "pruned %d rejects older than %d days",
            deleted["rejects"],
            days,
            extra={"run_id": run_id},
        )


def _not_due(engine: Engine, held: bool, now: datetime, every: float) -> str | None:
    """Why a scheduled run is not needed now, or None when it is."""
    if not held:
        return LOCKED_ERROR
    with engine.connect() as conn:
        last = runs.last_start(conn)
    if last is not None and (now - last).total_seconds() < every:
        return f"a run started {(now - last).total_seconds():.0f}s ago (interval {every:g}s)"
    return None


def _run_sources(
    engine: Engine,
    config: EtlConfig,
    run_id: int,
    names: tuple[str, ...],
    client: httpx.Client,
    policy: RetryPolicy,
    progress: Callable[[ProgressEvent], None],
    stop: threading.Event,
    book: Bookkeeper,
) -> tuple[SourceSummary, ...]:
    seeds = load_seed(config.assets_path)
    summaries: list[SourceSummary] = []
    database_failed = False
    for name in names:
        if stop.is_set() or database_failed:
            why = "stopped before it started" if stop.is_set() else DATABASE_FAILED_ERROR
            summaries.append(SourceSummary(name, RunStatus.SKIPPED, Counters(), why, 0))
            continue
        job = SourceJob(
            engine,
            config,
            run_id,
            name,
            client=client,
            policy=policy,
            seeds=seeds,
            progress=progress,
            stop=stop,
            book=book,
        )
        summaries.append(job.run())
        database_failed = job.database_failed
    return tuple(summaries)


def _outcome(
    summaries: tuple[SourceSummary, ...], stop: threading.Event
) -> tuple[RunStatus, str | None]:
    if stop.is_set() and any(s.status != RunStatus.SUCCESS for s in summaries):
        return RunStatus.FAILED, STOPPED_ERROR
    failed = [s.source for s in summaries if s.status != RunStatus.SUCCESS]
    if not failed:
        return RunStatus.SUCCESS, None
    if len(failed) == len(summaries):
        return RunStatus.FAILED, "every source failed"
    return RunStatus.PARTIAL, f"failed: {', '.join(failed)}"
