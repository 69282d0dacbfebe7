"""gql/, etl/ and db/ install inside the kasparro package: a wheel of kasparro puts nothing
at the top level but ``kasparro``, so it installs beside PyPI's ``gql`` client (and other
distributions named ``db`` or ``etl``) without overwriting them, and uninstalls cleanly."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ("gql", "etl", "db")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("kasparro-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_only_the_kasparro_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {
        "kasparro",
        wheel.name.split("-py")[0] + ".dist-info",
    }
    files = set(names)
    # Every module of the three folders is in the wheel, under kasparro/.
    for package in PACKAGES:
        for module in (REPO / package).rglob("*.py"):
            assert f"kasparro/{module.relative_to(REPO).as_posix()}" in files, module
    # The package data: migrations, GraphiQL's files and the bundled CSVs as real files.
    assert "kasparro/db/migrations/script.py.mako" in files
    assert "kasparro/gql/static/graphiql/graphiql.min.js" in files
    assert "kasparro/gql/static/dashboard/app.js" in files
    assert "kasparro/gql/static/dashboard/vendor/uPlot.iife.min.js" in files
    bundled = zipfile.ZipFile(wheel).read("kasparro/etl/bundled/data.csv")
    assert bundled == (REPO / "data" / "data.csv").read_bytes()


def python_in(env: Path, *code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the venv's Python from outside the repository, so nothing of the
    source tree is importable but what the venv installed."""
    return subprocess.run(
        [str(env / "bin" / "python"), "-P", "-c", "\n".join(code)],
        cwd=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_installs_and_uninstalls_beside_the_pypi_gql_client(wheel: Path, tmp_path: Path) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "gql>=3.5,<5"], check=True, capture_output=True, timeout=300)
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    both = python_in(
        env,
        "import importlib.util, gql",
        "from gql import Client, gql as parse",
        "spec = importlib.util.find_spec('kasparro.gql.app')",
        "print(spec.origin.split('site-packages/')[1], gql.__file__.split('site-packages/')[1])",
    )
    assert both.returncode == 0, both.stderr
    assert both.stdout.split() == ["kasparro/gql/app.py", "gql/__init__.py"]

    subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "kasparro"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    after = python_in(env, "from gql import Client; import kasparro")
    assert after.returncode == 1
    assert after.stderr.strip().endswith("No module named 'kasparro'")
