"""Run a platform's start command as the platform would, with ``PORT`` set, in a network
namespace of its own whose only interface is a loopback, so a command that listens on
0.0.0.0 is reachable from nowhere else. Needs root (``unshare --net``).

``python -m tests.ops.private_net PORT ARGV_JSON`` is the part that runs inside the
namespace: it brings the loopback up, starts the command in a process group of its own,
waits for ``GET /health`` on PORT, sends SIGTERM to the group (as Heroku does to a dyno's
processes, and Docker to a container's only process), and prints one JSON object: the
health answer and the command's exit status.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class Outcome:
    status: int | None
    body: Any
    returncode: int
    stderr: str


def can_unshare() -> bool:
    return os.geteuid() == 0


def serve_privately(argv: list[str], port: int, env: dict[str, str], cwd: str) -> Outcome:
    """Start ``argv`` in its own network namespace; report its /health and exit status."""
    probe = [sys.executable, "-m", "tests.ops.private_net", str(port), json.dumps(argv)]
    result = subprocess.run(
        ["unshare", "--net", "--", *probe],
        env={**env, "PYTHONPATH": os.getcwd()},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=STARTUP_SECONDS + 30,
        check=True,
    )
    report = json.loads(result.stdout.splitlines()[-1])
    return Outcome(report["status"], report["body"], report["returncode"], report["stderr"])


def _health(port: int) -> tuple[int, Any] | None:
    try:
        answer = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None
    return answer.status, json.loads(answer.read())


def _inside(port: int, argv: list[str]) -> dict[str, Any]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    server = subprocess.Popen(
        argv,
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    answer = None
    deadline = time.monotonic() + STARTUP_SECONDS
    while answer is None and server.poll() is None and time.monotonic() < deadline:
        answer = _health(port)
        time.sleep(0.2)
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    _, stderr = server.communicate(timeout=20)
    status, body = answer if answer else (None, None)
    return {"status": status, "body": body, "returncode": server.returncode, "stderr": stderr}


if __name__ == "__main__":
    print(json.dumps(_inside(int(sys.argv[1]), json.loads(sys.argv[2]))))
