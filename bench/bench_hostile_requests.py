"""Hostile GraphQL requests beyond the document: huge variables, padded documents.

    PYTHONPATH=. python bench/bench_hostile_requests.py [--seconds 6]
        [--health-p50-ms 100] [--health-max-ms 1000] [--rss-bound-mb 256]

A ``kasparro serve`` subprocess over the shipped CSVs (as ``bench_validation.py``); a thread
asks ``/health`` every 20 ms while two client threads send, for ``--seconds`` each:

- nothing (baseline);
- a small query whose variables are a list of 150,000 strings (a 1 MB body);
- variables nested 900 lists deep; a 1,000,000-character string variable;
- a query padded with 60 KB of comments, each padding distinct (so no two texts are equal);
- the same padded with 60 KB of whitespace, each distinct.

In every phase /health's median must stay under ``--health-p50-ms`` and its slowest answer
under ``--health-max-ms``; the server's RSS after the phases under ``--rss-bound-mb``.
Results: a Markdown table on stdout and bench/out/hostile_requests.json; exit status 1
when a bound is not met.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_validation import OUT, finish, phase, report_phases, rss_mb, serving

SOURCES = "query($s: [String!]) { records(source: $s, first: 1) { nodes { source } } }"
ASSETS = "query($a: [String!]) { latestPrices(asset: $a) { source } }"
VALID = "{ records(first: 2) { nodes { source value } } }"


def send(client: httpx.Client, body: bytes) -> None:
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 400), response.status_code


def encoded(query: str, variables: Any = None) -> bytes:
    """The request body, compact (150,000 strings stay under MAX_REQUEST_BYTES)."""
    body = json.dumps({"query": query, "variables": variables}, separators=(",", ":")).encode()
    assert len(body) < 1_048_576
    return body


def senders() -> dict[str, Callable[[httpx.Client, int], None]]:
    big_list = encoded(SOURCES, {"s": ["csv"] * 150_000})
    deep = b'{"query": %s, "variables": {"s": %s}}' % (
        json.dumps(SOURCES).encode(),
        b"[" * 900 + b"]" * 900,
    )
    long_string = encoded(ASSETS, {"a": ["b" * 1_000_000]})
    return {
        "list of 150,000 strings": lambda client, n: send(client, big_list),
        "nested 900 deep": lambda client, n: send(client, deep),
        "1,000,000-character string": lambda client, n: send(client, long_string),
        "60 KB of distinct comments": lambda client, n: send(
            client, encoded(VALID + "\n" + f"# {n:08d} padding padding padding\n" * 1_700)
        ),
        "60 KB of distinct whitespace": lambda client, n: send(
            client, encoded(VALID + " " * (60_000 + n % 4_000) + "\n" * (n // 4_000))
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--health-p50-ms", type=float, default=100)
    parser.add_argument("--health-max-ms", type=float, default=1000)
    parser.add_argument("--rss-bound-mb", type=float, default=256)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as directory, serving(Path(directory)) as (base, pid):
        rss = {"start": rss_mb(pid)}
        rows["nothing"] = phase(base, args.seconds, None)
        for name, sender in senders().items():
            rows[name] = phase(base, args.seconds, sender)
        rss["after the phases"] = rss_mb(pid)
    failures += report_phases(rows, args)
    print(f"\nserver RSS: {rss['start']} MB at start, {rss['after the phases']} MB after")
    if rss["after the phases"] > args.rss_bound_mb:
        failures.append(f"RSS {rss['after the phases']} MB")
    return finish("hostile_requests", {"phases": rows, "rss_mb": rss}, failures)


if __name__ == "__main__":
    raise SystemExit(main())
