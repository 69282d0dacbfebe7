"""The sample CSVs and the asset seed ship with the package: `kasparro etl` with the default
paths works from any working directory, and a missing CSV fails only its own source."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from kasparro.etl.config import BUNDLED_DATA
from tests.conftest import REPO
from tests.kasparro.test_etl_cli import table

PATH_SETTINGS = ("CSV_PATH", "CSV2_PATH", "ASSETS_PATH")


def etl_elsewhere(cwd: Path, database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`kasparro etl --source csv --source csv2` run in ``cwd``, far from the source tree,
    with the path settings left to their defaults unless ``env`` sets them."""
    environ = {key: value for key, value in os.environ.items() if key not in PATH_SETTINGS}
    environ.pop("PYTHONPATH", None)
    environ.update(DATABASE_URL=database_url, **env)
    return subprocess.run(
        [sys.executable, "-m", "kasparro.cli", "etl", "--source", "csv", "--source", "csv2"],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_bundled_files_are_the_shipped_data() -> None:
    for name in ("data.csv", "data2.csv", "assets.csv"):
        bundled = BUNDLED_DATA / name
        assert bundled.is_file(), bundled
        assert bundled.read_bytes() == (REPO / "data" / name).read_bytes()


@pytest.mark.slow
def test_etl_with_default_paths_loads_from_another_directory(
    database_url: str, tmp_path: Path
) -> None:
    result = etl_elsewhere(tmp_path, database_url)
    assert result.returncode == 0, result.stderr
    rows = table(result.stdout)
    assert rows["csv"][1:4] == ["success", "1496", "1496"]
    assert rows["csv2"][1:4] == ["success", "1274", "1274"]
    assert "cannot read asset seed" not in result.stderr


@pytest.mark.slow
def test_a_missing_csv_fails_only_its_own_source(database_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "data.csv"
    result = etl_elsewhere(tmp_path, database_url, CSV_PATH=str(missing))
    assert result.returncode == 2, result.stderr  # partial
    rows = table(result.stdout)
    assert rows["csv"][1:4] == ["failed", "0", "0"]
    assert str(missing) in result.stdout
    assert rows["csv2"][1:4] == ["success", "1274", "1274"]


def test_a_missing_asset_seed_fails_the_run_with_its_reason(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "assets.csv"
    result = etl_elsewhere(tmp_path, database_url, ASSETS_PATH=str(missing))
    assert result.returncode == 1, result.stderr
    reason = f"cannot read asset seed {missing}: No such file or directory"
    assert re.search(rf"^run \d+: failed in [\d.]+s \({re.escape(reason)}\)$", result.stdout, re.M)
    assert "Traceback" not in result.stderr
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT status, error FROM etl_runs")).all()
    assert [tuple(run) for run in runs] == [("failed", reason)]
