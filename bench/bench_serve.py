"""Serving benchmark: /data and GraphQL next to the stack's floor, and latency as data grows.

    python bench/bench_serve.py [--backend postgresql sqlite] [--sizes 10000 1000000 10000000]
                                [--duration 15] [--connections 16]

For each backend and store size (seeded by bench/seed_store.py, kept between runs), one
uvicorn worker of `kasparro serve` (ETL off) and the floor app (bench/floor_app.py) are
started, and wrk drives them on loopback:
- throughput (largest size ≤ 1M): floor /data?limit=100, /data?limit=100, GraphQL
  records(first: 100), and the same at 1000 rows;
- latency (every size): the first page and a page 10,000 rows deep (reached by following
  next_cursor), p50 and p99;
- latestPrices for all 1000 assets (every size), under the same 16 connections (queueing
  included) and with one connection (the latency of one request). Both mostly hit the
  answer the server keeps while the store is unchanged (``db.latest_cache``); the third
  figure is the first request after a change: before each of a series of requests on one
  connection, ``latest_version`` is moved (as a load's commit would), so every one reads
  and encodes all prices again.
Results: a Markdown table on stdout and bench/out/serve.json. Needs `wrk` (Debian package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from kasparro.db.engine import create_db_engine
from kasparro.db.latest import bump

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"

RECORDS_QUERY = (
    "query Page($first: Int!) { records(first: $first) "
    "{ edges { node { source recordId value timestamp } } } }"
)
LATEST_QUERY = "{ latestPrices { asset { id } source value timestamp } }"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_url(backend: str, size: int) -> str:
    if backend == "postgresql":
        name = f"kasparro_bench_{size}"
        exists = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{name}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not exists:
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{name}"'],
                check=True,
            )
        return f"postgresql://postgres@127.0.0.1:5432/{name}"
    return f"sqlite:///{OUT / f'store_{size}.db'}"


@contextmanager
def server(
    command: list[str], port: int, env: dict[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``command`` until the block ends; yield its base URL and process once it serves."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/data?limit=1", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit(f"server did not start: {' '.join(command)}") from None
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def wrk(url: str, duration: int, connections: int, body: str | None = None) -> dict[str, Any]:
    """Run wrk; requests/s, p50/p99 in ms and the count of non-2xx answers and errors."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(body)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
            )
        command[1:1] = ["-s", script.name]
    try:
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(script.name)

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            raise SystemExit(f"could not read the {label}% latency from wrk:\n{output}")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return round(float(match.group(1)) * scale, 2)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    return {
        "requests_per_second": round(rps, 1),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def after_each_change(url: str, database: str, body: str, requests: int) -> dict[str, Any]:
    """POST ``body`` ``requests`` times on one connection, moving ``latest_version`` before
    each (what every commit of a load does): latency of the answer right after a change."""
    engine = create_db_engine(database)
    timings, bad = [], 0
    try:
        with httpx.Client(timeout=60, headers={"Content-Type": "application/json"}) as client:
            for _ in range(requests):
                with engine.begin() as conn:
                    bump(conn)
                started = time.perf_counter()
                response = client.post(url, content=body)
                timings.append((time.perf_counter() - started) * 1000)
                bad += response.status_code != 200 or "errors" in response.json()
    finally:
        engine.dispose()
    timings.sort()
    return {
        "requests_per_second": round(1000 * len(timings) / sum(timings), 1),
        "p50_ms": round(timings[len(timings) // 2], 2),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
        "non_2xx": bad,
        "socket_errors": "",
    }


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> str:
    return json.dumps({"query": query, "variables": variables or {}})


def deep_cursor(base: str, depth: int) -> str | None:
    """The next_cursor after ``depth`` rows, reached by paging /data 1000 at a time."""
    cursor: str | None = None
    seen = 0
    while seen < depth:
        params = {"limit": str(min(1000, depth - seen))}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(f"{base}/data", params=params, timeout=60).json()
        seen += len(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return None
    return cursor


def bench_size(
    backend: str, size: int, args: argparse.Namespace, throughput: bool
) -> dict[str, Any]:
    url = database_url(backend, size)
    subprocess.run(
        [sys.executable, str(HERE / "seed_store.py"), "--rows", str(size), "--database-url", url],
        check=True,
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ETL_ON_STARTUP": "false",
        "LOG_LEVEL": "WARNING",
        "MAX_PAGE_SIZE": "1000",
    }
    result: dict[str, Any] = {"backend": backend, "rows": size}
    port = free_port()
    kasparro = [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(port)]
    with server(kasparro, port, env) as (base, _):

        def run(target: str, body: str | None = None) -> dict[str, Any]:
            return wrk(target, args.duration, args.connections, body)

        if throughput:
            floor_port = free_port()
            floor = [
                sys.executable,
                str(HERE / "floor_app.py"),
                "--port",
                str(floor_port),
                "--database-url",
                url,
            ]
            with server(floor, floor_port, env) as (floor_base, _):
                result["floor_data_100"] = run(f"{floor_base}/data?limit=100")
                result["floor_data_1000"] = run(f"{floor_base}/data?limit=1000")
            result["rest_data_100"] = run(f"{base}/data?limit=100")
            result["graphql_records_100"] = run(
                f"{base}/graphql", graphql_body(RECORDS_QUERY, {"first": 100})
            )
            result["rest_data_1000"] = run(f"{base}/data?limit=1000")
            result["graphql_records_1000"] = run(
                f"{base}/graphql", graphql_body(RECORDS_QUERY, {"first": 1000})
            )
        result["first_page"] = run(f"{base}/data?limit=100")
        cursor = deep_cursor(base, 10_000)
        if cursor is not None:
            deep = f"{base}/data?limit=100&cursor={urllib.parse.quote(cursor)}"
            result["page_10000_deep"] = run(deep)
        latest = graphql_body(LATEST_QUERY)
        answer = httpx.post(
            f"{base}/graphql",
            content=latest,
            headers={"Content-Type": "application/json"},
            timeout=60,
        ).json()
        result["latest_prices_rows"] = len(answer["data"]["latestPrices"])
        result["latest_prices"] = run(f"{base}/graphql", latest)
        result["latest_prices_1_connection"] = wrk(f"{base}/graphql", args.duration, 1, latest)
        result["latest_prices_after_change"] = after_each_change(
            f"{base}/graphql", url, latest, args.changes
        )
    return result


def ratio(numerator: dict[str, Any] | None, denominator: dict[str, Any] | None) -> str:
    if not numerator or not denominator:
        return "-"
    return f"{numerator['requests_per_second'] / denominator['requests_per_second']:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", nargs="+", default=["postgresql", "sqlite"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 1_000_000, 10_000_000])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--changes", type=int, default=100, help="latestPrices requests each after a change"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    OUT.mkdir(exist_ok=True)
    results = []
    for backend in args.backend:
        throughput_size = max((s for s in args.sizes if s <= 1_000_000), default=None)
        for size in args.sizes:
            results.append(bench_size(backend, size, args, throughput=size == throughput_size))
            (OUT / "serve.json").write_text(json.dumps(results, indent=2))
    print("| backend | rows | endpoint | req/s | p50 ms | p99 ms | non-2xx | vs floor / vs REST |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        comparisons = {
            "floor_data_100": "",
            "rest_data_100": ratio(r.get("rest_data_100"), r.get("floor_data_100")) + " of floor",
            "graphql_records_100": ratio(r.get("graphql_records_100"), r.get("rest_data_100"))
            + " of REST",
            "floor_data_1000": "",
            "rest_data_1000": ratio(r.get("rest_data_1000"), r.get("floor_data_1000"))
            + " of floor",
            "graphql_records_1000": ratio(r.get("graphql_records_1000"), r.get("rest_data_1000"))
            + " of REST",
            "first_page": "",
            "page_10000_deep": "",
            "latest_prices": f"{r['latest_prices_rows']:,} rows",
            "latest_prices_1_connection": "one connection",
            "latest_prices_after_change": "one connection, each after a change",
        }
        for key, note in comparisons.items():
            m = r.get(key)
            if m:
                print(
                    f"| {r['backend']} | {r['rows']:,} | {key} | {m['requests_per_second']} "
                    f"| {m['p50_ms']} | {m['p99_ms']} | {m['non_2xx']} | {note} |"
                )


if __name__ == "__main__":
    main()
