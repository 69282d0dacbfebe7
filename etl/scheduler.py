"""Run the ETL in the background of an asyncio application (the web server's lifespan).

``start`` returns at once; a background task runs the ETL with trigger ``startup`` (when
``on_startup``) and then with trigger ``schedule`` every ``interval_seconds`` (0: never).
The schedule is shared by every process on the database: a tick runs only when no run
that did work started within the interval and no other run holds the lock, and a tick that
does not run records nothing (``run_etl(every=…)``), so N replicas run the ETL once per
interval and only the lock holder runs at any moment.
``run_now`` runs it with trigger ``manual``. Every run executes ``run_etl`` in a worker thread
(``anyio.to_thread``), so the event loop never blocks. Runs never overlap: the ETL lock makes
a run that starts while another holds it a recorded ``skipped`` run. Errors are logged and
never end the background task. ``stop`` asks the current run to end at its next batch
boundary and waits for it.

Every run this process starts ends recorded, whoever started it: runs go through one
``RunLedger`` (``etl.bookkeeping``), which the scheduler settles every ``SETTLE_SECONDS``
while it owes a run's end, and closes out in ``stop``: a run still in flight then is
recorded ``failed`` ("stopped: …"). After a stop request, a run's database statements are
cancelled once ETL_STOP_GRACE_SECONDS have passed (``etl.watchdog``), so a run blocked in a
``COPY`` ends within the server's grace period. Runs use worker threads of their own (an
anyio capacity limiter), so requests holding every default worker thread cannot delay them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Sequence

import anyio.to_thread
import httpx
from anyio import CapacityLimiter
from sqlalchemy import Engine

from kasparro.db.cancel import StatementCanceller
from kasparro.etl.bookkeeping import RunLedger
from kasparro.etl.config import EtlConfig
from kasparro.etl.http import RetryPolicy
from kasparro.etl.pipeline import RunSummary, run_etl
from kasparro.etl.watchdog import StopWatchdog

log = logging.getLogger(__name__)

SETTLE_SECONDS = 5.0
"""How often the scheduler tries to write the ends of runs the database refused."""

THREADS = 2
"""Worker threads for runs (a manual run may wait for the ETL lock while another runs)."""

SHUTDOWN_REASON = "stopped: the server shut down before the run ended"


class EtlScheduler:
    """Background ETL runs for one engine and configuration."""

    def __init__(
        self,
        engine: Engine,
        config: EtlConfig,
        *,
        on_startup: bool,
        interval_seconds: int,
        http_client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._on_startup = on_startup
        self._interval = interval_seconds
        self._client = http_client
        self._retry = retry
        self._stop = threading.Event()
        self._halt: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._settler: asyncio.Task[None] | None = None
        self._limiter = CapacityLimiter(THREADS)
        self._bookkeeping = CapacityLimiter(1)
        """The ledger's own thread: runs stuck in both run threads cannot delay it."""
        self._ledger = RunLedger()
        self._running = 0
        self._watchdog = StopWatchdog(
            StatementCanceller(engine), config.stop_grace_seconds, lambda: self._running > 0
        )
        self.last_summary: RunSummary | None = None

    async def start(self) -> None:
        """Start the background task and return at once."""
        self._halt = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="kasparro-etl-scheduler")
        self._settler = asyncio.create_task(self._settle(), name="kasparro-etl-ledger")

    async def run_now(self, sources: Sequence[str] | None = None) -> RunSummary:
        """Run the ETL now (trigger ``manual``) and return its summary.

        Raises ``UnknownSourceError`` (a ``ValueError``) for a source name the ETL does not know.
        """
        return await self._run("manual", sources)

    def request_stop(self) -> None:
        """Ask the current run to end at its next batch boundary, and no new run to start;
        a statement that blocks is cancelled after ETL_STOP_GRACE_SECONDS.

        Safe from a signal handler or another thread; ``stop`` still waits for the task.
        """
        self._stop.set()
        self._watchdog.arm()

    async def stop(self) -> None:
        """Stop scheduling, let the current runs end (cancelled after the grace period),
        wait for them within a bound, and record every run this process started."""
        self.request_stop()
        if self._halt is not None:
            self._halt.set()
        config = self._config
        bound = config.stop_grace_seconds + config.lock_timeout_seconds
        bound += 2 * config.bookkeeping_timeout_seconds + 1
        deadline = time.monotonic() + bound
        for task in (self._task, self._settler):
            if task is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, max(0.1, deadline - time.monotonic()))
        while self._running and time.monotonic() < deadline:  # manual runs, in requests
            await asyncio.sleep(0.05)
        self._task = self._settler = None
        self._watchdog.disarm()
        await anyio.to_thread.run_sync(
            self._ledger.close_out,
            self._engine,
            min(config.bookkeeping_timeout_seconds, 1.0),
            SHUTDOWN_REASON,
            limiter=self._bookkeeping,
        )

    async def _run(
        self, trigger: str, sources: Sequence[str] | None = None, every: float | None = None
    ) -> RunSummary:
        job = functools.partial(
            run_etl,
            self._engine,
            self._config,
            trigger=trigger,
            sources=sources,
            http_client=self._client,
            stop=self._stop,
            retry=self._retry,
            every=every,
            ledger=self._ledger,
        )
        self._running += 1
        try:
            summary = await anyio.to_thread.run_sync(job, limiter=self._limiter)
        finally:
            self._running -= 1
        self.last_summary = summary
        return summary

    async def _settle(self) -> None:
        """Write the ends of runs the database refused, every SETTLE_SECONDS, until stopped."""
        assert self._halt is not None
        while not self._halt.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), timeout=SETTLE_SECONDS)
            if self._ledger.owes and not self._halt.is_set():
                try:
                    await anyio.to_thread.run_sync(
                        self._ledger.settle,
                        self._engine,
                        self._config.bookkeeping_timeout_seconds,
                        limiter=self._bookkeeping,
                    )
                except Exception:  # the task must outlive a failed attempt; next one retries
                    log.exception("recording an ETL run's end failed")

    async def _loop(self) -> None:
        if self._on_startup:
            await self._attempt("startup")
        while self._interval > 0 and not self._stop.is_set():
            assert self._halt is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halt.wait(), timeout=self._interval)
            if self._stop.is_set():
                break
            await self._attempt("schedule", every=self._interval)

    async def _attempt(self, trigger: str, every: float | None = None) -> None:
        try:
            summary = await self._run(trigger, every=every)
        except Exception:  # the background task must survive any failed run
            log.exception("background ETL run (%s) failed", trigger, extra={"trigger": trigger})
            return
        if summary.run_id is not None:
            context = {"run_id": summary.run_id, "trigger": trigger}
            log.info("background ETL run %s: %s", summary.run_id, summary.status, extra=context)
