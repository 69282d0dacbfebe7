"""SIGTERM to a real `kasparro serve`: in-flight requests finish, the ETL stops at a batch
boundary with its checkpoint committed, and the next `kasparro etl` completes the file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from kasparro.db.tables import checkpoints, etl_run_sources, etl_runs
from tests.etl.conftest import query
from tests.ops.serving import BASE_ENV, kasparro_serve, synthetic_csv
from tests.ops.test_run_bookkeeping import wait_for_rows

ROWS = 200_000
PAGE = 500
QUERY = json.dumps(
    {"query": f"{{ records(first: {PAGE}) {{ nodes {{ source recordId value timestamp }} }} }}"}
).encode()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic CSV large enough that the startup run is mid-way."""
    return synthetic_csv(tmp_path_factory.mktemp("shutdown") / "prices.csv", ROWS)


def start_request(port: int) -> socket.socket:
    """Send a GraphQL POST's headers and half its body: the request is now in flight."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(QUERY)}\r\n\r\n"
    ).encode()
    sock.sendall(head + QUERY[: len(QUERY) // 2])
    return sock


def finish_request(sock: socket.socket) -> tuple[str, dict[str, str], bytes]:
    """Send the rest of the body; read the whole response (the server closes after it)."""
    sock.sendall(QUERY[len(QUERY) // 2 :])
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


def lines_before(path: Path, offset: int) -> int:
    """Data rows (after the header) in the first ``offset`` bytes of ``path``."""
    with path.open("rb") as handle:
        return handle.read(offset).count(b"\n") - 1


@pytest.mark.slow
def test_sigterm_finishes_requests_and_stops_the_etl_at_a_batch_boundary(
    database_url: str, engine: Engine, tmp_path: Path, big_csv: Path
) -> None:
    env = {
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(big_csv),
        "ETL_ON_STARTUP": "true",
        "ETL_BATCH_SIZE": "2000",
    }
    with kasparro_serve(database_url, tmp_path, "serve", **env) as served:
        wait_for_rows(engine, served)
        sock = start_request(served.port)
        time.sleep(0.2)  # let the server read the partial request
        sent = time.monotonic()
        served.process.send_signal(15)
        time.sleep(1.0)
        # Shutting down: no new connections, but the one in flight is still served.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{served.base_url}/health", timeout=2)
        assert served.process.poll() is None, served.log()
        held_until = datetime.now(UTC)
        status, headers, body = finish_request(sock)
        took = served.terminate(timeout=30) + (time.monotonic() - sent)

    assert status == "HTTP/1.1 200 OK", served.log()
    assert int(headers["content-length"]) == len(body)
    nodes = json.loads(body)["data"]["records"]["nodes"]
    assert len(nodes) == PAGE
    assert took < 30

    with engine.connect() as conn:
        [run] = conn.execute(select(etl_runs)).all()
        [source] = conn.execute(select(etl_run_sources)).all()
        [checkpoint] = conn.execute(select(checkpoints)).all()
    loaded = query(engine, "SELECT count(*) AS n FROM records")[0].n
    assert (run.status, run.error, run.trigger) == ("failed", "stopped", "startup")
    # The signal itself stopped the run, while the request was still held open.
    assert run.finished_at is not None and run.finished_at < held_until
    assert source.status == "failed" and "stopped" in source.error
    assert 0 < loaded < ROWS
    # Counters and the committed checkpoint cover exactly the rows that were committed: the
    # file offset is just past the last loaded row. (The high-water timestamp moves only
    # with a file's last batch, so a stopped first run leaves it unset.)
    assert source.rows_read == source.inserted == loaded
    offset = int(checkpoint.fingerprint.split(":")[1])
    assert lines_before(big_csv, offset) == loaded
    assert checkpoint.high_water is None and source.checkpoint_after is None

    etl = subprocess.run(
        [sys.executable, "-m", "kasparro.cli", "etl"],
        env={**os.environ, **BASE_ENV, **env, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert etl.returncode == 0, etl.stderr
    total = query(engine, "SELECT count(*) AS n FROM records")[0].n
    assert total == ROWS
    [resumed] = query(engine, "SELECT rows_read, inserted FROM etl_run_sources WHERE run_id = 2")
    assert (resumed.rows_read, resumed.inserted) == (ROWS - loaded, ROWS - loaded)
