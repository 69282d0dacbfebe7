"""Driving a real Docker engine from the container tests: the CLI, HTTP from inside a
container, waiting for health, and the compose file made loopback-only.

The engine is the one ``DOCKER_HOST`` names (``.ci/containers`` starts a private one);
``DOCKER`` names the CLI that matches it (default: ``docker`` on PATH). Containers get no
network of their own (``--network none``, or compose services sharing one such
namespace), so nothing is published on any address of the host; requests reach the app
from inside its namespace with ``docker exec``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.waiting import seconds_until

OPT_IN = "KASPARRO_CONTAINER_TESTS"
"""Set to 1 (``.ci/containers`` does) to run these tests; they build images for minutes."""

_GET = """
import json, sys, urllib.error, urllib.request
try:
    answer = urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as error:
    answer = error
print(json.dumps({"status": answer.status, "body": answer.read().decode()}))
"""


class EngineError(RuntimeError):
    """A docker or docker-compose command failed; the message has its output."""


def docker_cli() -> str:
    return os.environ.get("DOCKER", "docker")


def run(
    argv: list[str], *, timeout: float = 300, check: bool = True, merge_stderr: bool = False
) -> str:
    """Run a docker / docker-compose command against the engine; return its stdout (and
    stderr, with ``merge_stderr``)."""
    environ = {**os.environ, "DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
    result = subprocess.run(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=environ,
        check=False,
    )
    if check and result.returncode != 0:
        raise EngineError(f"{' '.join(argv)} exited {result.returncode}:\n{result.stderr}")
    return result.stdout


def docker(*args: str, timeout: float = 300, check: bool = True) -> str:
    return run([docker_cli(), *args], timeout=timeout, check=check)


@dataclass(frozen=True)
class Answer:
    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def get(container: str, path: str, port: int = 8000) -> Answer:
    """GET ``http://127.0.0.1:{port}{path}`` from inside ``container``'s network namespace."""
    url = f"http://127.0.0.1:{port}{path}"
    out = docker("exec", container, "python", "-c", _GET, url, timeout=30)
    answer = json.loads(out)
    return Answer(answer["status"], answer["body"])


def logs(container: str) -> str:
    """What the container wrote to stdout and stderr."""
    return run([docker_cli(), "logs", container], check=False, merge_stderr=True)


def inspect(container: str, template: str) -> str:
    return docker("inspect", "--format", template, container).strip()


def wait_for(what: str, check: Callable[[], bool], seconds: float, every: float = 0.5) -> float:
    """Poll ``check`` until it is true; return the seconds it took, fail after ``seconds``."""
    return seconds_until(check, seconds, what, interval=every)


def health(container: str) -> str:
    """Docker's health status of a container: starting, healthy or unhealthy."""
    return inspect(container, "{{.State.Health.Status}}")


def serving(container: str) -> bool:
    try:
        return get(container, "/health").status == 200
    except EngineError:
        return False


def loopback_compose(compose: dict[str, Any], context: Path) -> dict[str, Any]:
    """``docker-compose.yml`` as .ci/containers runs it: with no network but loopback.

    The database gets ``network_mode: none`` and the name ``db`` for 127.0.0.1; the app
    joins the database's namespace (``service:db``), so ``db:5432`` still reaches it and
    nothing is published on the host (hence no ``ports``: the published address is checked
    in tests/ops/test_compose.py). The image builds on the host's network, as
    ``docker build --network host`` would, from ``context``. Nothing else changes.
    """
    derived: dict[str, Any] = json.loads(json.dumps(compose))
    services = derived["services"]
    db, app = services["db"], services["app"]
    db["network_mode"] = "none"
    db["extra_hosts"] = ["db:127.0.0.1"]
    app["network_mode"] = "service:db"
    app.pop("ports", None)
    build = app["build"] if isinstance(app["build"], dict) else {"context": app["build"]}
    app["build"] = {**build, "context": str((context / build["context"]).resolve())}
    app["build"]["network"] = "host"
    return derived
