"""Load on loopback with wrk: a Lua script cycling through fixed requests, its figures as
JSON, and a sampler of a process's resident memory from /proc."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "status_errors": %d, '
    .. '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, '
    .. '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f}\\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read,
    e.write, e.timeout, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000))
end
"""


@dataclass(frozen=True)
class Call:
    """One request of the mix: GET path, or POST path with a JSON body."""

    path: str
    body: dict[str, Any] | None = None

    def lua(self) -> str:
        if self.body is None:
            return f'wrk.format("GET", {_lua_string(self.path)})'
        body = _lua_string(json.dumps(self.body))
        headers = '{["Content-Type"] = "application/json"}'
        return f'wrk.format("POST", {_lua_string(self.path)}, {headers}, {body})'


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def wrk_script(calls: list[Call]) -> str:
    """A wrk script that sends ``calls`` round-robin (each thread from its own offset)."""
    items = ",\n  ".join(call.lua() for call in calls)
    return (
        "local calls = nil\nlocal i = 0\n"
        f"init = function(args)\n  calls = {{\n  {items}\n  }}\nend\n"
        "request = function()\n  i = i + 1\n  return calls[(i % #calls) + 1]\nend\n" + _DONE
    )


def run_wrk(
    base_url: str, calls: list[Call], seconds: int, connections: int, workdir: Path
) -> dict[str, Any]:
    """Run wrk for ``seconds`` at ``connections``; return its figures (latencies in ms)."""
    wrk = shutil.which("wrk")
    assert wrk is not None, "wrk is not installed (apt-get install wrk)"
    script = workdir / "mix.lua"
    script.write_text(wrk_script(calls), encoding="utf-8")
    completed = subprocess.run(
        [
            wrk,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    [line] = [line for line in completed.stdout.splitlines() if line.startswith("WRKJSON ")]
    figures: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    figures["requests_per_second"] = round(figures["requests"] / (figures["duration_us"] / 1e6), 1)
    return figures


class RssSampler(threading.Thread):
    """Sample VmRSS of ``pid`` (KiB) every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - started, rss_kib(self.pid)))
            self.stop.wait(self.interval)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")
