"""Stuck and hostile upstreams: how fast a stop or the deadline ends a fetch, and what an
inflating body costs in memory. Asserts the bounds RELIABILITY.md states.

- cuts: a ``Fetcher`` (deadline 30 s) stuck in each phase (connecting to a full accept queue,
  a TLS handshake nobody answers, headers dripped a byte a second, a body dripped likewise,
  waiting out a ``Retry-After: 30``) is stopped 0.5 s in; the time from the stop request to
  ``StoppedError`` must stay under 1 s;
- deadlines: the same stalls with a 1 s deadline; the attempt must end within 0.5 s of it;
- processes: ``kasparro etl`` against headers dripped a byte every 2 s with
  ``HTTP_TIMEOUT_SECONDS=3`` and one retry (the source must take under 8 s), and SIGTERM
  to ``kasparro serve`` while its startup run is in that fetch (exit within 2 s);
- memory: the peak RSS (``VmHWM``) of ``kasparro etl --source coinpaprika`` fed the recorded
  tickers, then a 300 MB gzip bomb: the bomb may not cost more than 1.5 times the normal run.
  ``--code DIR`` runs the processes from another checkout (e.g. ``git archive 23a9f5a``) for a
  before/after figure; the bounds are then reported, not asserted.

    python bench/bench_upstream_cuts.py [--repeat 10] [--code /tmp/kasparro-main]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kasparro.etl.errors import FetchError, StoppedError  # noqa: E402
from kasparro.etl.http import Fetcher, FetchLimits, RetryPolicy, upstream_client  # noqa: E402
from tests.ops.serving import BASE_ENV, kasparro_serve  # noqa: E402
from tests.support.hostile_upstream import (  # noqa: E402
    Dripping,
    dripping,
    header_block,
    http_response,
    unconnectable,
)
from tests.support.upstream import PAPRIKA, TICKERS, fake_upstream, gzip_bomb, recorded, too_many  # noqa: E402

OUT = REPO / "bench" / "out"
SMALL = http_response(b"[]")
BODY = http_response(b"[" + b" " * 100 + b"]")
PHASES = ("connecting", "TLS handshake", "headers", "body", "retry wait")


@contextlib.contextmanager
def stall(phase: str) -> Iterator[str]:
    """A URL at which a fetch stalls in ``phase`` for 30 s or more."""
    if phase == "connecting":
        with unconnectable() as base:
            yield f"{base}/v1/tickers"
    elif phase == "TLS handshake":
        with dripping(b"", every=math.inf) as server:
            yield f"{server.base_url.replace('http:', 'https:')}/v1/tickers"
    elif phase == "headers":
        with dripping(SMALL, every=1.0) as server:
            yield f"{server.base_url}/v1/tickers"
    elif phase == "body":
        with dripping(BODY, every=1.0, head=header_block(BODY)) as server:
            yield f"{server.base_url}/v1/tickers"
    else:
        with fake_upstream() as upstream:
            upstream.serve(TICKERS, too_many("30"))
            yield f"{upstream.coinpaprika_url}/tickers"


def fetcher(deadline: float, stop: threading.Event, retries: int = 1) -> Fetcher:
    limits = FetchLimits(deadline_seconds=deadline)
    policy = RetryPolicy(max_retries=retries, retry_after_max=30.0)
    return Fetcher(upstream_client(limits), "coinpaprika", policy, limits=limits, stop=stop)


def stop_latency(url: str) -> float:
    """Seconds from a stop request, 0.5 s into the fetch, to ``StoppedError``."""
    stop, ended = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fetcher(30.0, stop).get(url)
        except (FetchError, StoppedError) as exc:
            errors.append(exc)
        ended.set()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.5)
    asked = time.monotonic()
    stop.set()
    ended.wait(30)
    took = time.monotonic() - asked
    assert errors and isinstance(errors[0], StoppedError), errors
    return took


def deadline_overshoot(url: str) -> float:
    """Seconds past a 1 s deadline at which the attempt ended."""
    started = time.monotonic()
    try:
        fetcher(1.0, threading.Event(), retries=0).get(url)
    except FetchError as exc:
        assert "no complete response within 1s" in str(exc), exc
    return time.monotonic() - started - 1.0


def figures(samples: list[float]) -> dict[str, float]:
    return {"p50": statistics.median(samples), "max": max(samples), "n": len(samples)}


def measure_cuts(repeat: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for phase in PHASES:
        with stall(phase) as url:
            cuts = [stop_latency(url) for _ in range(repeat)]
            over = [deadline_overshoot(url) for _ in range(repeat)] if phase != PHASES[-1] else []
        result[phase] = {"stop": figures(cuts), "deadline": figures(over) if over else None}
    return result


def environment(code: Path | None, database: Path, **env: str) -> dict[str, str]:
    base = {**os.environ, **BASE_ENV, "DATABASE_URL": f"sqlite:///{database}", **env}
    if code is not None:
        base["PYTHONPATH"] = str(code)
    return base


def peak_rss(process: subprocess.Popen[bytes]) -> float:
    """Wait for ``process``; its peak RSS in MiB, read from /proc while it runs."""
    peak = 0
    while process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        time.sleep(0.005)
    return peak / 1024


def etl_process(code: Path | None, folder: Path, source: str, **env: str) -> dict[str, Any]:
    """Run ``kasparro etl --source SOURCE``: wall seconds, peak RSS, its summary line."""
    database = folder / f"etl-{time.monotonic_ns()}.db"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "kasparro.cli", "etl", "--source", source],
        env=environment(code, database, **env),
        cwd=code or REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    rss = peak_rss(process)
    assert process.stdout is not None
    line = next(
        (row for row in process.stdout.read().decode().splitlines() if row.startswith(source)),
        "",
    )
    return {"seconds": time.monotonic() - started, "rss_mib": rss, "line": " ".join(line.split())}


def serve_sigterm(code: Path | None, folder: Path, server: Dripping) -> float:
    """Seconds from SIGTERM to a clean exit of `kasparro serve` whose startup run is in a
    fetch from ``server``; infinite when it ignored the signal for 60 s."""
    env = {"ETL_ON_STARTUP": "true", "ETL_SOURCES": "coinpaprika", "HTTP_TIMEOUT_SECONDS": "120"}
    env["COINPAPRIKA_BASE_URL"] = f"{server.base_url}/v1"
    if code is not None:
        env["PYTHONPATH"] = str(code)
    database = f"sqlite:///{folder / f'serve-{time.monotonic_ns()}.db'}"
    seen = len(server.connections)
    with kasparro_serve(database, folder, f"serve-{seen}", **env) as served:
        while len(server.connections) == seen:  # the startup run is in the fetch
            time.sleep(0.02)
        time.sleep(0.5)
        try:
            return served.terminate(timeout=60)
        except AssertionError:
            return math.inf


def measure_processes(code: Path | None, repeat: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder, dripping(SMALL, every=2.0) as server:
        base = f"{server.base_url}/v1"
        env = {"COINPAPRIKA_BASE_URL": base, "HTTP_TIMEOUT_SECONDS": "3", "HTTP_MAX_RETRIES": "1"}
        result["etl_dripped_headers"] = etl_process(code, Path(folder), "coinpaprika", **env)
        result["serve_sigterm_seconds"] = figures(
            [serve_sigterm(code, Path(folder), server) for _ in range(repeat)]
        )
    with tempfile.TemporaryDirectory() as folder, fake_upstream() as upstream:
        env = {"COINPAPRIKA_BASE_URL": upstream.coinpaprika_url, "HTTP_TIMEOUT_SECONDS": "60"}
        upstream.serve(TICKERS, recorded(PAPRIKA))
        result["etl_recorded"] = etl_process(code, Path(folder), "coinpaprika", **env)
        upstream.serve(TICKERS, gzip_bomb(300_000_000))
        result["etl_gzip_bomb_300mb"] = etl_process(code, Path(folder), "coinpaprika", **env)
    return result


def check(
    cuts: dict[str, Any], processes: dict[str, Any], assert_bounds: bool
) -> list[tuple[str, bool]]:
    bounds: list[tuple[str, bool]] = []
    for phase, found in cuts.items():
        cut = found["stop"]["max"]
        bounds.append((f"stop while {phase}: max {cut:.3f} s < 1 s", cut < 1.0))
        if found["deadline"]:
            over = found["deadline"]["max"]
            bounds.append((f"deadline while {phase}: max {over:.3f} s past it < 0.5 s", over < 0.5))
    etl = processes["etl_dripped_headers"]
    seconds = float(etl["line"].split()[8]) if etl["line"] else math.inf
    bounds.append((f"kasparro etl, dripped headers: source {seconds:.2f} s < 8 s", seconds < 8))
    sigterm = processes["serve_sigterm_seconds"]["max"]
    bounds.append((f"kasparro serve SIGTERM: max {sigterm:.2f} s < 2 s", sigterm < 2.0))
    normal, bomb = processes["etl_recorded"]["rss_mib"], processes["etl_gzip_bomb_300mb"]["rss_mib"]
    bounds.append((f"gzip bomb RSS {bomb:.0f} MiB <= 1.5 x {normal:.0f}", bomb <= normal * 1.5))
    failed = [text for text, ok in bounds if not ok]
    if assert_bounds:
        assert not failed, failed
    return bounds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--code", type=Path, help="run the processes from this checkout")
    args = parser.parse_args(argv)
    logging.getLogger("kasparro.etl").setLevel(logging.ERROR)  # no "retrying after" lines
    cuts = measure_cuts(args.repeat) if args.code is None else {}
    processes = measure_processes(args.code, max(1, args.repeat // 3))
    bounds = check(cuts, processes, assert_bounds=args.code is None) if cuts else []
    OUT.mkdir(parents=True, exist_ok=True)
    name = "upstream-cuts.json" if args.code is None else "upstream-cuts-other.json"
    (OUT / name).write_text(json.dumps({"cuts": cuts, "processes": processes}, indent=2))
    show: Callable[[str], None] = print
    show("| phase | stop → StoppedError p50 / max | deadline overshoot p50 / max |")
    show("|---|---|---|")
    for phase, found in cuts.items():
        stop, late = found["stop"], found["deadline"]
        lateness = f"{late['p50']:.3f} / {late['max']:.3f} s" if late else "—"
        show(f"| {phase} | {stop['p50']:.3f} / {stop['max']:.3f} s | {lateness} |")
    show(json.dumps(processes, indent=2))
    for text, ok in bounds:
        show(f"{'ok  ' if ok else 'FAIL'} {text}")


if __name__ == "__main__":
    main()
