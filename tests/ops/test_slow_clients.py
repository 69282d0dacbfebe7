"""Slow clients and descriptor exhaustion against a real `kasparro serve` process.

Slowloris: hundreds of connections each sending a request's headers one byte at a time,
reconnecting when cut off, against a server whose file descriptor limit is low. The server
must cut each of them off at CLIENT_HEADER_TIMEOUT_SECONDS (or sooner, to make room), keep
answering ``/health`` at once, and keep its log short. And when ``accept()`` fails for lack
of descriptors (the limit lowered under the running server), asyncio's reports of it are
logged at a bounded rate.
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.ops.serving import Served, kasparro_serve, kasparro_serve_with_file_limit
from tests.reliability.figures import report
from tests.support.waiting import wait_until

DRIPPERS = 300
FILES = 256
HEADER_TIMEOUT = 2.0
ATTACK_SECONDS = 10.0
BURST = 30
MAX_CONNECTS = 3000
"""Bound on the connections the attack opens in all (it reconnects when cut off)."""

DRIP = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
ACCEPT_FAILED = "socket.accept() out of system resource"


@dataclass
class Dripper:
    """One slow client connection: when it opened, how much it sent, what it got back."""

    sock: socket.socket
    opened: float
    sent: int = 0
    answer: bytes = b""
    closed: float | None = None
    answers: list[bytes] = field(default_factory=list)


def open_dripper(port: int) -> Dripper:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return Dripper(sock, time.monotonic())


def drip(dripper: Dripper) -> None:
    """Send the next byte of the endless request head; note the close if the server has."""
    try:
        dripper.sock.send(DRIP[dripper.sent % len(DRIP) : dripper.sent % len(DRIP) + 1])
        dripper.sent += 1
    except (BrokenPipeError, ConnectionResetError):
        finish(dripper)


def finish(dripper: Dripper) -> None:
    if dripper.closed is None:
        dripper.closed = time.monotonic()
        dripper.sock.close()


def read_closed(drippers: list[Dripper]) -> None:
    """Read what the server sent to any dripper, and note those it closed."""
    live = [d for d in drippers if d.closed is None]
    readable, _, _ = select.select([d.sock for d in live], [], [], 0) if live else ([], [], [])
    for dripper in live:
        if dripper.sock not in readable:
            continue
        try:
            chunk = dripper.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        except BlockingIOError:
            continue
        if chunk:
            dripper.answer += chunk
        else:
            finish(dripper)


def open_files(served: Served) -> int:
    return len(os.listdir(f"/proc/{served.process.pid}/fd"))


@pytest.mark.slow
def test_slow_header_clients_are_cut_off_and_health_keeps_answering(
    database_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    with kasparro_serve_with_file_limit(
        database_url,
        tmp_path,
        "slowloris",
        FILES,
        CLIENT_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
    ) as served:
        drippers: list[Dripper] = []
        health: list[tuple[int, float]] = []
        most_files = 0
        started = time.monotonic()
        with httpx.Client(base_url=served.base_url, timeout=5) as client:
            while time.monotonic() - started < ATTACK_SECONDS:
                # Up to DRIPPERS open, reconnecting what the server cut off; at most BURST
                # new ones per round, so the kernel's accept queue (32 here) does not hold
                # them back and each lifetime is the server's doing.
                live = [d for d in drippers if d.closed is None]
                wanted = min(DRIPPERS - len(live), MAX_CONNECTS - len(drippers), BURST)
                drippers += [open_dripper(served.port) for _ in range(wanted)]
                for dripper in drippers:
                    if dripper.closed is None:
                        drip(dripper)
                read_closed(drippers)
                asked = time.monotonic()
                response = client.get("/health", headers={"Connection": "close"})
                health.append((response.status_code, time.monotonic() - asked))
                assert response.json()["db"] == "ok"
                most_files = max(most_files, open_files(served))
                time.sleep(0.1)

        def all_closed() -> bool:
            read_closed(drippers)
            return all(d.closed is not None for d in drippers)

        wait_until(all_closed, HEADER_TIMEOUT + 2, "the server to close every slow connection")
        lines = served.log_lines()
        text = served.log()

    statuses = {status for status, _ in health}
    slowest = max(seconds for _, seconds in health)
    lifetimes = [d.closed - d.opened for d in drippers if d.closed is not None]
    timed_out = [d for d in drippers if d.answer]
    assert statuses == {200}, health
    assert slowest < 1.5, health
    # Every dripper was cut off: at the deadline, or sooner to make room for another.
    assert len(lifetimes) == len(drippers), "some slow connections were never closed"
    assert max(lifetimes) < HEADER_TIMEOUT + 1.5
    assert timed_out, "no connection lasted until the header deadline"
    for dripper in timed_out:
        head, _, body = dripper.answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert json.loads(body)["error"] == (
            "request headers not received within 2s (CLIENT_HEADER_TIMEOUT_SECONDS)"
        )
    [lowered] = [line for line in lines if line["message"].startswith("MAX_CONNECTIONS 1000")]
    assert lowered["max_connections"] == 96 and lowered["backlog"] == 32
    assert most_files < FILES
    assert text.count(ACCEPT_FAILED) <= 1
    assert len(text.splitlines()) < 150
    figures = {
        "connections_opened": len(drippers),
        "health_requests": len(health),
        "health_slowest_s": round(slowest, 3),
        "lifetime_max_s": round(max(lifetimes), 3),
        "answered_408": len(timed_out),
        "server_open_files_max": most_files,
        "log_lines": len(text.splitlines()),
        "log_bytes": len(text.encode()),
    }
    report(pytestconfig, "slowloris", " ".join(f"{k}={v}" for k, v in figures.items()), figures)


@pytest.mark.slow
def test_accept_failing_for_lack_of_descriptors_is_logged_at_a_bounded_rate(
    database_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    with kasparro_serve(
        database_url, tmp_path, "emfile", CLIENT_HEADER_TIMEOUT_SECONDS="5"
    ) as served:
        pid = served.process.pid
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        spare = open_files(served) + 10
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (spare, hard))
        clients = [socket.create_connection(("127.0.0.1", served.port), timeout=5)]
        clients += [socket.create_connection(("127.0.0.1", served.port)) for _ in range(99)]
        time.sleep(3)  # accept() fails again and again meanwhile
        during = served.log()
        for sock in clients:
            sock.close()
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (hard, hard))
        asked = time.monotonic()
        response = httpx.get(f"{served.base_url}/health", timeout=10)
        recovered = time.monotonic() - asked

    assert during.count(ACCEPT_FAILED) == 1, during[-2000:]
    assert len(during.splitlines()) < 60
    assert response.status_code == 200
    assert recovered < 3
    figures = {
        "accept_failed_lines": during.count(ACCEPT_FAILED),
        "log_lines": len(during.splitlines()),
        "health_after_s": round(recovered, 3),
    }
    report(pytestconfig, "accept-emfile", " ".join(f"{k}={v}" for k, v in figures.items()), figures)
