"""`kasparro serve` as a real subprocess on a free port, queried over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ops.serving import BASE_ENV
from tests.support.servers import free_port
from tests.support.waiting import after_a_run, wait_until


@pytest.mark.slow
def test_kasparro_serve_end_to_end(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        **BASE_ENV,
        "DATABASE_URL": database_url,
        # The API base URLs are closed local ports: those sources fail at once, the CSVs load.
        "HTTP_TIMEOUT_SECONDS": "2",
        "ETL_ON_STARTUP": "true",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:

            def health_after_a_run() -> dict[str, Any] | None:
                assert process.poll() is None, log_text()
                try:
                    return after_a_run(client.get("/health").json())
                except httpx.TransportError:
                    return None

            def log_text() -> str:
                return (tmp_path / "serve.log").read_text()

            health = wait_until(health_after_a_run, 60, log_text, interval=0.2)
            assert health["db"] == "ok"
            assert health["etl_last_run"] == "partial"  # the two API sources failed

            stats = client.get("/stats").json()
            assert stats["records_total"] > 1000
            assert stats["records_processed"] == stats["records_total"]
            failed = {s["source"] for s in stats["last_run"]["sources"] if s["status"] == "failed"}
            assert failed == {"coinpaprika", "coingecko"}

            page = client.get("/data", params={"limit": 3, "source": "csv"})
            assert page.status_code == 200
            assert page.headers["x-request-id"] == page.json()["request_id"]
            rows = page.json()["data"]
            assert len(rows) == 3 and {row["source"] for row in rows} == {"csv"}

            body = client.post(
                "/graphql",
                json={
                    "query": '{ records(first: 3, source: ["csv"]) '
                    "{ totalCount nodes { source recordId value timestamp asset { id } } } }"
                },
            ).json()
            nodes = body["data"]["records"]["nodes"]
            assert [(n["recordId"], n["value"], n["timestamp"]) for n in nodes] == [
                (r["record_id"], r["value"], r["timestamp"]) for r in rows
            ]
            assert body["data"]["records"]["totalCount"] > 0
            assert client.get("/graphql", headers={"Accept": "text/html"}).status_code == 200
            assert client.post("/etl/run").status_code == 401  # no token sent (none is set)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    assert code == 0, (tmp_path / "serve.log").read_text()
