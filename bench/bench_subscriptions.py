"""GraphQL subscriptions: many subscribers on one change feed per process.

    PYTHONPATH=. python bench/bench_subscriptions.py [--subscribers 1000] [--prices 1000]
        [--processes 1] [--filter all|one] [--database-url URL]

A store holding one price for each of ``--prices`` synthetic coins (bench/gen_csv.py) is
served by ``--processes`` ``kasparro serve`` subprocesses (more than one needs a PostgreSQL
``--database-url``; default a SQLite file in bench/out/). ``--subscribers`` WebSocket
clients (``websockets``, one asyncio loop in this process), spread evenly over the
processes, each subscribe to ``priceChanges``: all of them (``--filter all``: each
subscriber receives every change) or one coin each (``--filter one``). Then one load in
this process (``etl.pipeline.run_etl``) writes a new day for every coin: one commit that
changes ``--prices`` prices.

Reported:
- commit -> delivery latency p50 / p99 / max (ms): from the moment the load's connection
  sent the COMMIT of the transaction that moved the counter to the moment a client read
  the message (the COMMIT itself counted: an upper bound);
- RSS per subscriber (KiB): the servers' RSS with the subscribers minus without, divided;
- server CPU per delivered message (µs): user + system time of the servers from the load
  until the last message, divided by the messages.

The clients run in this process on the same machine and compete for its cores: with many
messages they, not the server, may set the pace. Results: a Markdown row on stdout and
bench/out/subscriptions.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from bench_serve import free_port, server
from bench_validation import rss_mb
from sqlalchemy import event
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from kasparro.db.engine import create_db_engine
from kasparro.db.migrate import upgrade
from kasparro.etl.pipeline import run_etl
from kasparro.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ (not installed) holds the PostgreSQL reset
OUT = ROOT / "bench" / "out"
from tests.conftest import reset_postgresql  # noqa: E402

PROTOCOL = Subprotocol("graphql-transport-ws")
QUERY = (
    "subscription($symbol: [String!]) { priceChanges(symbol: $symbol) "
    "{ asset { id symbol } source value timestamp } }"
)


def environment(database_url: str, csv: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(csv),
        "ASSETS_PATH": str(ROOT / "data" / "assets.csv"),
        "ETL_ON_STARTUP": "false",
        "LOG_LEVEL": "WARNING",
        "MAX_CONNECTIONS": "5000",
        "SUBSCRIPTION_MAX_PER_PROCESS": "20000",
        # A server (or this client) busy for a minute must not close sockets for a late pong.
        "SUBSCRIPTION_PING_SECONDS": "600",
    }


def generate(csv: Path, coins: int, append: bool) -> None:
    where = ["--append" if append else "--output", str(csv)]
    command = [sys.executable, str(ROOT / "bench" / "gen_csv.py"), "--rows", str(coins)]
    subprocess.run([*command, "--coins", str(coins), *where], check=True)


def fresh_store(database_url: str) -> None:
    """An empty, migrated store (a PostgreSQL database is wiped: never name one you keep)."""
    if database_url.startswith("postgresql"):
        reset_postgresql(database_url)
        return
    engine = create_db_engine(database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def servers(count: int, env: dict[str, str]) -> Iterator[list[tuple[str, int]]]:
    """``count`` ``kasparro serve`` processes; their base URLs and pids."""
    with ExitStack() as stack:
        found = []
        for _ in range(count):
            port = free_port()
            command = [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(port)]
            base, process = stack.enter_context(server(command, port, env))
            found.append((base, process.pid))
        yield found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def held(base: str) -> int:
    body = httpx.get(f"{base}/metrics", timeout=30).text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in body.splitlines()
        if line.startswith("kasparro_subscriptions{")
    )


class CommitClock:
    """When the load's connection sent the COMMIT of the transaction that moved the
    ``latest_version`` counter (wall clock, as the clients' receive times)."""

    def __init__(self) -> None:
        self.moving: set[int] = set()
        self.commits: list[float] = []

    def statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE LATEST_VERSION"):
            self.moving.add(id(conn))

    def commit(self, conn: Any) -> None:
        if id(conn) in self.moving:
            self.moving.discard(id(conn))
            self.commits.append(time.time())


async def subscriber(
    base: str, variables: dict[str, Any], expected: int, ready: list[int], seen: list[float]
) -> None:
    url = base.replace("http://", "ws://") + "/graphql"
    ws: ClientConnection
    async with connect(
        url, subprotocols=[PROTOCOL], max_queue=None, open_timeout=60, ping_interval=None
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        await ws.recv()
        payload = {"query": QUERY, "variables": variables}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        ready.append(1)
        for _ in range(expected):
            await ws.recv()
            seen.append(time.time())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--prices", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--filter", choices=("all", "one"), default="all")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as scratch:
        work = Path(scratch)
        url = args.database_url or f"sqlite:///{work / 'subscriptions.db'}"
        if args.processes > 1 and url.startswith("sqlite"):
            raise SystemExit("several processes need --database-url postgresql://…")
        results = measure(args, url, work / "prices.csv")
    line = (
        f"| {args.processes} | {args.subscribers} | {args.filter} | {args.prices} "
        f"| {results['messages']} | {results['p50_ms']} | {results['p99_ms']} "
        f"| {results['max_ms']} | {results['rss_kib_per_subscriber']} "
        f"| {results['cpu_us_per_message']} |"
    )
    print(
        "| processes | subscribers | filter | prices changed | messages | p50 ms | p99 ms "
        "| max ms | RSS KiB / subscriber | server CPU µs / message |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(line)
    (OUT / "subscriptions.json").write_text(json.dumps({**vars(args), **results}, indent=2))
    return 0


def measure(args: argparse.Namespace, url: str, csv: Path) -> dict[str, Any]:
    fresh_store(url)
    generate(csv, args.prices, append=False)
    env = environment(url, csv)
    settings = Settings.from_env(env)
    engine = create_db_engine(url)
    run_etl(engine, settings.etl_config())  # the first day: every coin has a price
    clock = CommitClock()
    event.listen(engine, "before_cursor_execute", clock.statement)
    event.listen(engine, "commit", clock.commit)
    per_subscriber = args.prices if args.filter == "all" else 1
    with servers(args.processes, env) as served:
        pids = [pid for _, pid in served]
        rss_before = sum(rss_mb(pid) for pid in pids)
        ready: list[int] = []
        seen: list[float] = []
        loop = asyncio.new_event_loop()
        clients = [
            subscriber(
                served[n % len(served)][0],
                {"symbol": [f"SYN{n % args.prices:04d}"]} if args.filter == "one" else {},
                per_subscriber,
                ready,
                seen,
            )
            for n in range(args.subscribers)
        ]
        done = threading.Event()
        failed: list[BaseException] = []

        async def everyone() -> None:
            await asyncio.gather(*clients)

        def run_clients() -> None:
            try:
                loop.run_until_complete(everyone())
            except (OSError, TimeoutError, ConnectionClosed) as exc:  # reported by main
                failed.append(exc)
            done.set()

        thread = threading.Thread(target=run_clients, daemon=True)
        thread.start()
        deadline = time.monotonic() + 300
        while sum(held(base) for base, _ in served) < args.subscribers:
            if time.monotonic() > deadline:
                raise SystemExit("the subscribers did not all subscribe within 300 s")
            time.sleep(0.5)
        time.sleep(1)
        rss_after = sum(rss_mb(pid) for pid in pids)
        generate(csv, args.prices, append=True)
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        run_etl(engine, settings.etl_config())
        expected = args.subscribers * per_subscriber
        if not done.wait(timeout=600):
            raise SystemExit(f"only {len(seen)} of {expected} messages within 600 s")
        if failed:
            raise SystemExit(f"a client failed after {len(seen)} messages: {failed[0]!r}")
        cpu_after = sum(cpu_seconds(pid) for pid in pids)
    engine.dispose()
    committed = clock.commits[-1]
    latencies = [(moment - committed) * 1000 for moment in seen]
    ordered = sorted(latencies)
    return {
        "messages": len(seen),
        "p50_ms": round(statistics.median(ordered), 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1),
        "max_ms": round(ordered[-1], 1),
        "rss_mb_before": rss_before,
        "rss_mb_after": rss_after,
        "rss_kib_per_subscriber": round((rss_after - rss_before) * 1024 / args.subscribers, 1),
        "cpu_us_per_message": round((cpu_after - cpu_before) * 1e6 / len(seen), 1),
        "database": url.split(":", 1)[0],
    }


if __name__ == "__main__":
    raise SystemExit(main())
