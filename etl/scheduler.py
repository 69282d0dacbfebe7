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
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Sequence

import anyio.to_thread
import httpx
from sqlalchemy import Engine

from etl.config import EtlConfig
from etl.http import RetryPolicy
from etl.pipeline import RunSummary, run_etl

log = logging.getLogger(__name__)


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
        self.last_summary: RunSummary | None = None

    async def start(self) -> None:
        """Start the background task and return at once."""
        self._halt = asyncio.Event()
        self._task = asyncio.create_task(self._loop(), name="kasparro-etl-scheduler")

    async def run_now(self, sources: Sequence[str] | None = None) -> RunSummary:
        """Run the ETL now (trigger ``manual``) and return its summary.

        Raises ``UnknownSourceError`` (a ``ValueError``) for a source name the ETL does not know.
        """
        return await self._run("manual", sources)

    def request_stop(self) -> None:
        """Ask the current run to end at its next batch boundary, and no new run to start.

        Safe from a signal handler or another thread; ``stop`` still waits for the task.
        """
        self._stop.set()

    async def stop(self) -> None:
        """Stop scheduling, let the current run end at a batch boundary, and wait for it."""
        self._stop.set()
        if self._halt is not None:
            self._halt.set()
        if self._task is not None:
            await self._task
            self._task = None

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
        )
        summary = await anyio.to_thread.run_sync(job)
        self.last_summary = summary
        return summary

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
