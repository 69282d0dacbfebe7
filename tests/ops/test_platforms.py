"""railway.json and the Procfile: valid for their platforms, and their commands work.

railway.json is checked against a JSON schema of Railway's documented settings, in
tests/ops/schemas/ (SOURCES.md says how it was written); a Procfile has no schema, so its
form is checked by the rules Heroku documents (``<process type>: <command>``, one a line).
Each start command then runs as the platform runs it: ``sh -c`` with ``PORT`` set, in a
network namespace of its own (it listens on 0.0.0.0), and must answer ``GET /health`` on
that port and stop on SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from kasparro.serve import GRACEFUL_SHUTDOWN_SECONDS
from tests.conftest import REPO
from tests.ops.private_net import can_unshare, serve_privately

SCHEMAS = Path(__file__).parent / "schemas"
_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(\S.*)$")
needs_root = pytest.mark.skipif(not can_unshare(), reason="needs root for a private network")


def railway() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "railway.json").read_text(encoding="utf-8"))
    return loaded


def railway_errors(config: dict[str, Any]) -> list[str]:
    schema = json.loads((SCHEMAS / "railway.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [error.message for error in validator.iter_errors(config)]


def procfile() -> dict[str, str]:
    processes: dict[str, str] = {}
    for line in (REPO / "Procfile").read_text(encoding="utf-8").splitlines():
        match = _PROCFILE_LINE.match(line)
        assert match, f"not a Procfile line: {line!r}"
        assert match.group(1) not in processes, f"{match.group(1)} twice"
        processes[match.group(1)] = match.group(2)
    return processes


def platform_env(tmp_path: Path) -> dict[str, str]:
    """The environment a platform would give: PATH with the installed `kasparro`, a
    database (a SQLite file: the private namespace reaches no database server)."""
    return {
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kasparro.db'}",
        "ETL_ON_STARTUP": "false",
        "HOME": str(tmp_path),
    }


def test_railway_json_matches_railways_schema() -> None:
    config = railway()
    assert config["$schema"] == "https://railway.com/railway.schema.json"
    assert railway_errors(config) == []


def test_the_schema_rejects_what_railway_would() -> None:
    config = railway()
    wrong = [
        {**config, "deploy": {**config["deploy"], "restartPolicyType": "SOMETIMES"}},
        {**config, "build": {**config["build"], "builder": "BUILDPACKS"}},
        {**config, "deploy": {**config["deploy"], "healthcheckPth": "/health"}},
    ]
    for config in wrong:
        assert railway_errors(config), config


def test_railway_builds_the_dockerfile_and_checks_health() -> None:
    build, deploy = railway()["build"], railway()["deploy"]
    assert build["builder"] == "DOCKERFILE"
    assert (REPO / build["dockerfilePath"]).is_file()
    assert deploy["healthcheckPath"] == "/health"
    assert deploy["restartPolicyType"] == "ON_FAILURE"
    assert shlex.split(deploy["preDeployCommand"]) == ["kasparro", "migrate"]
    # Railway's SIGTERM-to-SIGKILL time covers the server's own grace for requests.
    assert deploy["drainingSeconds"] > GRACEFUL_SHUTDOWN_SECONDS


def test_procfile_declares_web_and_a_release_migration() -> None:
    processes = procfile()
    assert set(processes) == {"web", "release"}
    assert shlex.split(processes["release"]) == ["kasparro", "migrate"]


def start_argv(platform: str) -> list[str]:
    """How each platform runs its start command: Railway splits it into words (no shell:
    a variable needs an explicit ``sh -c``), Heroku-style platforms hand it to a shell."""
    if platform == "railway":
        return shlex.split(railway()["deploy"]["startCommand"])
    return ["/bin/sh", "-c", procfile()["web"]]


@needs_root
@pytest.mark.parametrize("platform", ["railway", "procfile"])
@pytest.mark.slow
def test_the_start_command_serves_on_port(platform: str, tmp_path: Path) -> None:
    argv = start_argv(platform)
    outcome = serve_privately(argv, 8123, platform_env(tmp_path), cwd=str(tmp_path))
    assert outcome.status == 200, outcome.stderr
    assert outcome.body["db"] == "ok"
    assert "0.0.0.0:8123" in outcome.stderr
    # SIGTERM: a clean shutdown, the process ended by that signal.
    assert outcome.returncode == -15, outcome.stderr
    assert "Application shutdown complete" in outcome.stderr


@pytest.mark.slow
def test_the_release_command_migrates(tmp_path: Path) -> None:
    env = platform_env(tmp_path)
    result = subprocess.run(
        ["/bin/sh", "-c", procfile()["release"]],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stderr
    assert (tmp_path / "kasparro.db").is_file()
