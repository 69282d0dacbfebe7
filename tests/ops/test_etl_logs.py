"""ETL log context: `kasparro etl` with LOG_FORMAT=json, read from its real stderr.

Every line of the ETL's loggers carries the run_id; every line about one source (its
outcome, its failure, an HTTP retry) carries the source, so the logs alone tell whether
each source's last run succeeded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.ops.serving import BASE_ENV
from tests.support.upstream import PAPRIKA, TICKERS, fake_upstream, recorded, server_error


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines (progress lines are plain text on the same stream)."""
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_etl_log_lines_carry_run_id_and_source(database_url: str, tmp_path: Path) -> None:
    with fake_upstream() as upstream:
        upstream.script(TICKERS, server_error(503), recorded(PAPRIKA))  # one retry, then data
        env = {
            **os.environ,
            **BASE_ENV,
            "DATABASE_URL": database_url,
            "ETL_SOURCES": "coinpaprika,coingecko,csv,csv2",
            "COINPAPRIKA_BASE_URL": upstream.coinpaprika_url,
            "HTTP_MAX_RETRIES": "1",
            "LOG_FORMAT": "json",
        }
        done = subprocess.run(
            [sys.executable, "-m", "kasparro.cli", "etl"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr  # partial: coingecko's port is closed
    lines = [line for line in json_lines(done.stderr) if line["logger"].startswith("kasparro.etl.")]
    assert lines, done.stderr
    assert {line.get("run_id") for line in lines} == {1}

    per_source = [
        line for line in lines if line["logger"] in ("kasparro.etl.source_job", "kasparro.etl.http")
    ]
    assert all(line["source"] in ("coinpaprika", "coingecko", "csv", "csv2") for line in per_source)
    outcomes = {
        line["source"]: line["status"]
        for line in per_source
        if line["message"].startswith(f"source {line['source']} finished")
    }
    assert outcomes == {
        "coinpaprika": "success",
        "coingecko": "failed",
        "csv": "success",
        "csv2": "success",
    }
    retries = {line["source"]: line for line in per_source if line["logger"] == "kasparro.etl.http"}
    assert set(retries) == {"coinpaprika", "coingecko"}  # a 503, a refused connection
    retry = retries["coinpaprika"]
    assert retry["attempt"] == 1
    assert retry["message"].startswith("retrying after") and "HTTP 503" in retry["message"]
    [failed] = [
        line for line in per_source if line["message"].startswith("source coingecko failed")
    ]
    assert failed["source"] == "coingecko" and "Connection refused" in failed["message"]
    csv = next(line for line in per_source if line["source"] == "csv" and "status" in line)
    assert (csv["rows_read"], csv["inserted"], csv["rejected"]) == (1496, 1496, 0)
    [finished] = [line for line in lines if line["message"].startswith("ETL run finished")]
    assert (finished["status"], finished["trigger"]) == ("partial", "manual")
    assert finished["error"] == "failed: coingecko"
