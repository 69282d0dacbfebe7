"""The background scheduler on a real event loop: startup run, manual run, interval, stop."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from sqlalchemy import Engine, Row

from kasparro.etl.scheduler import EtlScheduler
from tests.etl.conftest import make_config, query

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def wait_for_runs(engine: Engine, count: int, timeout: float = 15.0) -> list[Row[Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        finished = query(
            engine, "SELECT id, trigger, status FROM etl_runs WHERE status <> 'running' ORDER BY id"
        )
        if len(finished) >= count:
            return finished
        await anyio.sleep(0.05)
    raise AssertionError(f"fewer than {count} finished ETL runs after {timeout}s")


async def test_startup_run_in_the_background_then_a_manual_run(engine: Engine) -> None:
    scheduler = EtlScheduler(
        engine, make_config(sources=("csv", "csv2")), on_startup=True, interval_seconds=0
    )
    started = time.monotonic()
    await scheduler.start()
    assert time.monotonic() - started < 0.1  # start() does not wait for the run
    [startup] = await wait_for_runs(engine, 1)
    assert (startup.trigger, startup.status) == ("startup", "success")
    manual = await scheduler.run_now(["csv"])
    assert (manual.status, manual.trigger) == ("success", "manual")
    assert [s.note for s in manual.sources] == ["file unchanged since the last run; not read"]
    await scheduler.stop()


@pytest.mark.slow
async def test_interval_runs_repeat_until_stopped(engine: Engine) -> None:
    scheduler = EtlScheduler(
        engine, make_config(sources=("csv",)), on_startup=False, interval_seconds=1
    )
    await scheduler.start()
    runs = await wait_for_runs(engine, 2, timeout=5)
    assert [r.trigger for r in runs[:2]] == ["schedule", "schedule"]
    started = time.monotonic()
    await scheduler.stop()
    assert time.monotonic() - started < 2
    count = len(query(engine, "SELECT id FROM etl_runs"))
    await anyio.sleep(1.5)
    assert len(query(engine, "SELECT id FROM etl_runs")) == count


async def test_unknown_sources_surface_from_run_now(engine: Engine) -> None:
    scheduler = EtlScheduler(engine, make_config(), on_startup=False, interval_seconds=0)
    await scheduler.start()
    with pytest.raises(ValueError, match="unknown source 'bogus'"):
        await scheduler.run_now(["bogus"])
    await scheduler.stop()


@pytest.mark.slow
async def test_stop_ends_a_running_run_at_a_batch_boundary(engine: Engine) -> None:
    scheduler = EtlScheduler(
        engine,
        make_config(sources=("csv", "csv2"), batch_size=1),
        on_startup=True,
        interval_seconds=0,
    )
    await scheduler.start()
    deadline = time.monotonic() + 10
    while not query(engine, "SELECT 1 FROM records LIMIT 1"):
        assert time.monotonic() < deadline
        await anyio.sleep(0.01)
    await scheduler.stop()
    [run] = query(engine, "SELECT status, error FROM etl_runs")
    assert (run.status, run.error) == ("failed", "stopped")
    [count] = query(engine, "SELECT count(*) AS n FROM records")
    assert 0 < count.n < 1496 + 1274
