"""`kasparro prune` run as a real process against the test database."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from kasparro.settings import Settings
from tests.db.test_prune import remaining, seed
from tests.support.cli import run_kasparro

STAMP = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00)"


def run_prune(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "DATABASE_URL": database_url, "RETENTION_DAYS": "", **env}
    return run_kasparro("prune", *args, env=environ)


def cutoff_of(first_line: str, tables: str, batch_size: int) -> datetime:
    pattern = rf"pruning {tables} dated before {STAMP} in batches of {batch_size}"
    match = re.fullmatch(pattern, first_line)
    assert match, first_line
    return datetime.fromisoformat(match.group(1))


@pytest.mark.slow
def test_prune_everything_in_small_batches(database_url: str, engine: Engine) -> None:
    now = datetime.now(UTC)
    seed(engine, now)
    result = run_prune(
        database_url, "--older-than", "100d", "--records", "--rejects", "--batch-size", "1"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    cutoff = cutoff_of(lines[0], "raw_payloads, records, rejects", 1)
    assert abs(cutoff - (now - timedelta(days=100))) < timedelta(minutes=1)
    assert lines[1:] == ["raw_payloads: 2 deleted", "records: 4 deleted", "rejects: 2 deleted"]
    young = (91, 90, 30, 0)
    assert remaining(engine, now) == {
        "raw_payloads": [f"https://example.test/{age}" for age in young],
        "records": [f"{source}@{age}d" for age in young for source in ("csv", "csv2")],
        "rejects": [f"line {age}" for age in young],
    }


@pytest.mark.slow
def test_retention_days_is_the_default_age(database_url: str, engine: Engine) -> None:
    now = datetime.now(UTC)
    seed(engine, now)
    result = run_prune(database_url, RETENTION_DAYS="60")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    cutoff = cutoff_of(lines[0], "raw_payloads", 10000)
    assert abs(cutoff - (now - timedelta(days=60))) < timedelta(minutes=1)
    assert lines[1:] == ["raw_payloads: 4 deleted"]
    left = remaining(engine, now)
    assert left["raw_payloads"] == ["https://example.test/30", "https://example.test/0"]
    assert len(left["records"]) == 12 and len(left["rejects"]) == 6


@pytest.mark.slow
def test_no_age_and_no_setting_is_refused(database_url: str) -> None:
    result = run_prune(database_url)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "kasparro prune: pass --older-than (e.g. 90d) or set RETENTION_DAYS"
    )


@pytest.mark.slow
def test_bad_arguments_are_refused(database_url: str) -> None:
    bad_age = run_prune(database_url, "--older-than", "90")
    assert bad_age.returncode == 2
    assert bad_age.stderr.strip().splitlines()[-1] == (
        "kasparro prune: error: argument --older-than: "
        "expected a positive age like 90d, 12h or 2w, got '90'"
    )
    bad_batch = run_prune(database_url, "--older-than", "1d", "--batch-size", "0")
    assert bad_batch.returncode == 2
    assert bad_batch.stderr.strip().splitlines()[-1] == (
        "kasparro prune: error: argument --batch-size: "
        "expected a whole number of at least 1, got '0'"
    )
    bad_setting = run_prune(database_url, RETENTION_DAYS="-1")
    assert bad_setting.returncode == 2
    assert bad_setting.stderr.strip() == (
        "kasparro: configuration error: RETENTION_DAYS: must be at least 0, got -1"
    )


def test_retention_is_off_by_default() -> None:
    assert Settings.from_env({}).retention_days == 0
    assert Settings.from_env({"RETENTION_DAYS": " 90 "}).retention_days == 90
