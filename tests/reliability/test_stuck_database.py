"""A database that hangs instead of refusing: another session holds a lock every request
needs, while 36 clients keep asking a real `kasparro serve`.

PostgreSQL: ``LOCK TABLE records IN ACCESS EXCLUSIVE MODE`` from another connection. Every
request must end within its bounds (DB_LOCK_TIMEOUT_SECONDS, the pool wait) as a clean 504
with Retry-After (GraphQL: code DATABASE_TIMEOUT), ``/health`` must keep answering at once
from its own pool, 200 with ``db: ok`` and ``slow: true``, and everything must be served
again once the lock is gone.

SQLite: in WAL mode (which every connection sets) no other session can stop readers: a
writer holding ``BEGIN EXCLUSIVE`` leaves them alone, and exclusive locking mode cannot be
taken while the server has the file open. So there requests must simply go on; what such a
writer stops is the ETL (``tests/ops/test_run_bookkeeping.py``). A statement running past
its bound is cancelled on both (``tests/db/test_engine.py``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.store import load_store
from tests.ops.serving import Served, kasparro_serve
from tests.reliability.figures import report
from tests.support.dblocks import held_lock
from tests.support.servers import serve_in_thread

CLIENTS = 36
HOLD_SECONDS = 6.0
LOCK_TIMEOUT = 1.0
STATEMENT_TIMEOUT = 2.0
BOUND = LOCK_TIMEOUT * 2 + 1.5
"""No request may take longer: the pool wait and the lock wait, each DB_LOCK_TIMEOUT_SECONDS,
and a margin for a loaded machine."""
HEALTH_BOUND = 1.5
TIMEOUT_MESSAGE = "database did not answer in time; try again later"
RECORDS = {"query": "{ records(first: 5) { nodes { source recordId value } } }"}


@dataclass
class Traffic:
    """What the clients got: outcome counts, the slowest answer, anything unclean."""

    outcomes: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    unclean: list[str] = field(default_factory=list)
    health: list[tuple[int, bool, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, outcome: str, seconds: float, problem: str | None = None) -> None:
        with self.lock:
            self.outcomes[outcome] += 1
            self.slowest = max(self.slowest, seconds)
            if problem is not None:
                self.unclean.append(problem)


def judge_rest(response: httpx.Response) -> tuple[str, str | None]:
    if response.status_code == 200:
        return "rest 200", None if len(response.json()["data"]) == 5 else response.text
    clean = (
        response.status_code == 504
        and response.headers.get("retry-after") == "5"
        and response.json()
        == {"error": TIMEOUT_MESSAGE, "request_id": response.headers["x-request-id"]}
    )
    return f"rest {response.status_code}", None if clean else response.text


def judge_graphql(response: httpx.Response) -> tuple[str, str | None]:
    body: dict[str, Any] = response.json()
    if not body.get("errors"):
        return "graphql data", None if len(body["data"]["records"]["nodes"]) == 5 else str(body)
    [error] = body["errors"]
    clean = body["data"] is None and error["message"] == TIMEOUT_MESSAGE
    clean = clean and error["extensions"] == {"code": "DATABASE_TIMEOUT", "retryAfter": 5}
    return "graphql DATABASE_TIMEOUT", None if clean else str(body)


def client_loop(base_url: str, until: float, traffic: Traffic) -> None:
    with httpx.Client(base_url=base_url, timeout=BOUND * 3) as client:
        turn = 0
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                if turn % 2:
                    outcome, problem = judge_graphql(client.post("/graphql", json=RECORDS))
                else:
                    outcome, problem = judge_rest(client.get("/data", params={"limit": 5}))
            except httpx.HTTPError as exc:
                outcome, problem = "transport error", repr(exc)
            traffic.note(outcome, time.monotonic() - started, problem)
            turn += 1


def health_loop(base_url: str, until: float, traffic: Traffic) -> None:
    with httpx.Client(base_url=base_url, timeout=BOUND * 3) as client:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = client.get("/health")
            except httpx.HTTPError as exc:
                traffic.health.append((0, False, time.monotonic() - started))
                traffic.unclean.append(f"/health: {exc!r}")
                continue
            body = response.json()
            slow = body.get("slow") is True and body["db"] == "ok"
            traffic.health.append((response.status_code, slow, time.monotonic() - started))
            time.sleep(0.25)


def under_load(served: Served, seconds: float) -> Traffic:
    """CLIENTS clients and a /health poller for ``seconds``; what they got."""
    traffic = Traffic()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client_loop, args=(served.base_url, until, traffic))
        for _ in range(CLIENTS)
    ]
    threads.append(threading.Thread(target=health_loop, args=(served.base_url, until, traffic)))
    for thread in threads:
        thread.start()
    deadline = until + BOUND * 3 + 5
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "clients still waiting"
    return traffic


def serve(
    database_url: str, tmp_path: Path, name: str
) -> contextlib.AbstractContextManager[Served]:
    return kasparro_serve(
        database_url,
        tmp_path,
        name,
        DB_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT),
        DB_STATEMENT_TIMEOUT_SECONDS=str(STATEMENT_TIMEOUT),
    )


def errors_logged(served: Served) -> list[dict[str, Any]]:
    return [line for line in served.log_lines() if line["level"] in ("error", "critical")]


@pytest.mark.slow
def test_a_locked_table_gives_clean_timeouts_and_a_true_health(
    database_url: str, engine: Engine, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("no session can stop SQLite's WAL readers (see the module docstring)")
    load_store(engine)
    with serve(database_url, tmp_path, "locked") as served:
        with held_lock(engine, "records"):
            held = under_load(served, HOLD_SECONDS)
        after = under_load(served, 2.0)
        errors = errors_logged(served)

    assert not held.unclean, held.unclean[:3]
    assert set(held.outcomes) == {"rest 504", "graphql DATABASE_TIMEOUT"}, held.outcomes
    assert held.slowest < BOUND
    assert {status for status, _, _ in held.health} == {200}
    assert all(slow for _, slow, _ in held.health[1:]), held.health  # the first may predate it
    assert max(seconds for _, _, seconds in held.health) < HEALTH_BOUND
    assert not after.unclean, after.unclean[:3]
    assert set(after.outcomes) == {"rest 200", "graphql data"}, after.outcomes
    assert not any(slow for _, slow, _ in after.health[1:])
    assert not errors, errors[:3]
    figures = {
        "clients": CLIENTS,
        "hold_seconds": HOLD_SECONDS,
        "during": dict(held.outcomes),
        "during_slowest_s": round(held.slowest, 3),
        "health_during": len(held.health),
        "health_slowest_s": round(max(s for _, _, s in held.health), 3),
        "after": dict(after.outcomes),
        "after_slowest_s": round(after.slowest, 3),
    }
    summary = " ".join(f"{key}={value}" for key, value in figures.items())
    report(pytestconfig, "stuck-database", summary, figures)


@pytest.mark.slow
def test_sqlite_readers_go_on_while_a_writer_holds_begin_exclusive(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's WAL readers; the PostgreSQL lock is the test above")
    load_store(engine)
    with serve(database_url, tmp_path, "writer") as served, held_lock(engine, "records"):
        held = under_load(served, 3.0)
    assert not held.unclean, held.unclean[:3]
    assert set(held.outcomes) == {"rest 200", "graphql data"}
    assert not any(slow for _, slow, _ in held.health)


def test_a_compiled_query_waits_for_a_locked_table_once(database_url: str, engine: Engine) -> None:
    """The compiled path (and its shortcut) must not send a query that timed out to the
    database again through normal execution: each wait is DB_LOCK_TIMEOUT_SECONDS."""
    if engine.dialect.name != "postgresql":
        pytest.skip("no session can stop SQLite's WAL readers (see the module docstring)")
    load_store(engine)
    settings = make_settings(database_url, DB_LOCK_TIMEOUT_SECONDS=str(LOCK_TIMEOUT))
    reads: list[str] = []
    app = create_app(settings.app_config())
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=BOUND * 3) as client:
        event.listen(app.state.read_engine, "before_cursor_execute", lambda *a: reads.append(a[2]))
        with held_lock(engine, "records"):
            for _ in range(3):  # compiled, then answered by the view's shortcut
                started = time.monotonic()
                body = client.post("/graphql", json=RECORDS).json()
                assert body["errors"][0]["extensions"]["code"] == "DATABASE_TIMEOUT"
                assert time.monotonic() - started < LOCK_TIMEOUT * 1.8
    assert len([sql for sql in reads if "FROM records" in sql]) == 3
