"""`kasparro etl` run as a real process: progress on stderr, the summary table on stdout,
exit codes 0 / 2 / 1, against the shipped CSVs and the fake upstream."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from tests.conftest import REPO
from tests.support.cli import run_kasparro
from tests.support.upstream import FakeUpstream, fake_upstream, json_reply


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


def run_etl_cli(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CSV_PATH": str(REPO / "data" / "data.csv"),
        "CSV2_PATH": str(REPO / "data" / "data2.csv"),
        "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
        "HTTP_MAX_RETRIES": "0",
        **env,
    }
    return run_kasparro("etl", *args, env=environ, timeout=120)


def table(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split() == [
        "source",
        "status",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "skipped",
        "rejected",
        "seconds",
        "error",
    ]
    return {line.split()[0]: line.split() for line in lines[2:-1]}


@pytest.mark.slow
def test_etl_loads_all_four_sources_then_inserts_nothing(
    database_url: str, engine: Engine, upstream: FakeUpstream
) -> None:
    env = {
        "COINPAPRIKA_BASE_URL": upstream.coinpaprika_url,
        "COINGECKO_BASE_URL": upstream.coingecko_url,
    }
    first = run_etl_cli(database_url, **env)
    assert first.returncode == 0, first.stderr
    rows = table(first.stdout)
    assert rows["coinpaprika"][1:4] == ["success", "2500", "2500"]
    assert rows["coingecko"][1:4] == ["success", "120", "120"]
    assert rows["csv"][1:4] == ["success", "1496", "1496"]
    assert rows["csv2"][1:4] == ["success", "1274", "1274"]
    assert first.stdout.splitlines()[-1].startswith("run 1: success in ")
    assert "csv: started" in first.stderr
    assert "csv2: 1,274 read, 1,274 inserted" in first.stderr
    with engine.connect() as conn:
        sources = conn.execute(
            text("SELECT count(DISTINCT source) FROM records WHERE asset_id = 'bitcoin'")
        ).scalar_one()
    assert sources == 4

    second = run_etl_cli(database_url, **env)
    assert second.returncode == 0, second.stderr
    assert {name: row[3] for name, row in table(second.stdout).items()} == {
        "coinpaprika": "0",
        "coingecko": "0",
        "csv": "0",
        "csv2": "0",
    }
    assert "file unchanged since the last run; not read" in second.stdout


@pytest.mark.slow
def test_offline_exit_code_2_partial_with_both_csvs(database_url: str) -> None:
    result = run_etl_cli(
        database_url,
        COINPAPRIKA_BASE_URL="http://127.0.0.1:9/v1",
        COINGECKO_BASE_URL="http://127.0.0.1:9/api/v3",
    )
    assert result.returncode == 2, result.stderr
    rows = table(result.stdout)
    assert rows["coinpaprika"][1] == rows["coingecko"][1] == "failed"
    assert rows["csv"][1:4] == ["success", "1496", "1496"]
    assert "partial" in result.stdout.splitlines()[-1]


@pytest.mark.slow
def test_only_the_named_sources_run_and_a_total_failure_exits_1(database_url: str) -> None:
    ok = run_etl_cli(database_url, "--source", "csv2")
    assert ok.returncode == 0
    assert list(table(ok.stdout)) == ["csv2"]
    failed = run_etl_cli(database_url, "--source", "csv", CSV_PATH="/nonexistent/data.csv")
    assert failed.returncode == 1
    assert "cannot read /nonexistent/data.csv" in failed.stdout


@pytest.mark.slow
def test_an_unknown_source_is_a_usage_error(database_url: str) -> None:
    result = run_etl_cli(database_url, "--source", "nope")
    assert result.returncode == 2
    assert "invalid choice: 'nope'" in result.stderr


def test_upstream_text_cannot_drive_the_terminal(database_url: str, upstream: FakeUpstream) -> None:
    """An upstream's error text reaches the progress lines and the summary table (the
    source's error): its control characters are escaped, never sent to the terminal."""
    hostile = '{"error": "\\u001b[2J\\u001b[H\\rall good \\u009b31m\\u202eevil\\u0007"}'
    upstream.reset()
    upstream.serve("/api/v3/coins/markets", json_reply(hostile, status=400))
    result = run_etl_cli(
        database_url, "--source", "coingecko", COINGECKO_BASE_URL=upstream.coingecko_url
    )
    assert result.returncode == 1, result.stderr
    printed = result.stdout + result.stderr
    for control in ("\x1b", "\r", "\x9b", "\u202e", "\x07"):
        assert control not in printed
    escaped = "HTTP 400: \\x1b[2J\\x1b[H\\rall good \\x9b31m\\u202eevil\\x07"
    assert escaped in result.stdout.splitlines()[2]  # the table's coingecko row
    assert f"coingecko: failed (GET {upstream.coingecko_url}/coins/markets: {escaped})" in (
        result.stderr
    )
