"""CPU per request of `/data?limit=100` and `records(first: 100)`, in process.

The ASGI app is called through Starlette's TestClient (no sockets, no other process), so the
figure is this process's CPU time per request, best of 15 batches of 40 after 30 warm-up
requests: steady on a busy machine, where req/s is not. Run it against a store seeded by
``bench/seed_store.py``; run it at two commits (a git worktree each) to compare them.

    python bench/bench_request_cpu.py --database-url sqlite:////tmp/store.db
    python bench/bench_request_cpu.py --database-url … --accept-encoding gzip
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.settings import Settings

QUERY = "{ records(first: 100) { nodes { source recordId value timestamp } } }"


def best_cpu_us(
    call: Callable[[], object], warm: int = 30, batches: int = 15, size: int = 40
) -> int:
    for _ in range(warm):
        call()
    best = float("inf")
    for _ in range(batches):
        started = time.process_time()
        for _ in range(size):
            call()
        best = min(best, (time.process_time() - started) / size)
    return round(best * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--accept-encoding", default="identity")
    args = parser.parse_args()
    env = dict(os.environ, DATABASE_URL=args.database_url, ETL_ON_STARTUP="false")
    app = create_app(Settings.from_env(env).app_config())
    headers = {"accept-encoding": args.accept_encoding}
    with TestClient(app, headers=headers) as client:
        rest = best_cpu_us(lambda: client.get("/data?limit=100"))
        graphql = best_cpu_us(lambda: client.post("/graphql", json={"query": QUERY}))
    print(f"accept-encoding={args.accept_encoding} rest_us={rest} graphql_us={graphql}")


if __name__ == "__main__":
    main()
