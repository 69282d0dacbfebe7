"""Hostile GraphQL documents: validation time, /health while they run, and memory.

    PYTHONPATH=. python bench/bench_validation.py [--repeat 7] [--seconds 8] [--bound-ms 250]
        [--health-p50-ms 100] [--health-max-ms 1000] [--rss-bound-mb 256]

Run from the repository root, with it on PYTHONPATH: the documents are the families of
``tests/gql/adversarial.py``. Three parts, each asserting a bound (exit status 1 when one
is not met):

1. In process: every family's worst case within the default limits (5000 tokens, 64 KiB;
   ``worst_cases()``), plus GraphiQL's introspection query, a full 1000-row page of every
   field and the 30-alias amplification, each parsed, validated with the application's
   rules and costed ``--repeat`` times from scratch (no cache). The median of each total
   must stay under ``--bound-ms``.
2. A ``kasparro serve`` subprocess over the shipped CSVs (SQLite, 2,770 records). A
   thread asks ``/health`` every 20 ms while two client threads send, for ``--seconds``
   each: nothing (baseline); the worst cases, each made distinct so that every one misses
   the cache; the costliest allowed query (the full page, normal execution); the refused
   amplification. In every phase /health's median must stay under ``--health-p50-ms`` and
   its slowest answer under ``--health-max-ms`` (the median is what the event loop
   decides; the tail also carries whatever else the machine runs).
3. The server's RSS (``/proc/<pid>/status``) after 1,000 distinct 50 KB documents
   (cached within GRAPHQL_CACHE_BYTES), 300 distinct 1 MB documents (refused by
   MAX_QUERY_BYTES) and 300 distinct 5,000-token documents (too large to cache): it must
   stay under ``--rss-bound-mb``.

Results: Markdown tables on stdout and bench/out/validation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from bench_serve import free_port, server
from graphql import DocumentNode, OperationDefinitionNode, get_introspection_query, parse
from strawberry.schema.schema import validate_document

from kasparro.gql.config import AppConfig
from kasparro.gql.cost import QueryCost
from kasparro.gql.rules import explained, validation_rules
from kasparro.gql.schema import build_schema

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the generated cases live in tests/ (not installed)

from tests.gql.adversarial import AMPLIFIED, FULL_PAGE, Case, worst_cases  # noqa: E402

OUT = ROOT / "bench" / "out"


def ordinary_cases() -> list[Case]:
    introspection = get_introspection_query(descriptions=True, input_value_deprecation=True)
    return [
        Case("graphiql-introspection", introspection, ()),
        Case("full-page-1000", FULL_PAGE, ()),
        Case("amplified-30-aliases", AMPLIFIED, ()),
    ]


def operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]


def time_case(case: Case, repeat: int) -> dict[str, Any]:
    """Parse + validate + cost of ``case`` from scratch, ``repeat`` times (milliseconds)."""
    config = AppConfig()
    schema = build_schema(config)._schema
    rules = validation_rules(config)
    cost = QueryCost(config)
    runs: list[tuple[float, float, float]] = []
    errors: list[str] = []
    estimate = None
    for _ in range(repeat):
        started = time.perf_counter()
        document = parse(case.query, max_tokens=config.max_query_tokens)
        parsed = time.perf_counter()
        errors = [error.message for error in explained(validate_document(schema, document, rules))]
        validated = time.perf_counter()
        operation = next(iter(operations(document)), None)
        if not errors and operation is not None:
            estimate = cost.estimate(schema, document, operation, None)
        costed = time.perf_counter()
        runs.append((parsed - started, validated - parsed, costed - validated))
    medians = [statistics.median(run[i] for run in runs) * 1000 for i in range(3)]
    return {
        "family": case.family,
        "bytes": len(case.query.encode()),
        "parse_ms": round(medians[0], 2),
        "validate_ms": round(medians[1], 2),
        "cost_ms": round(medians[2], 2),
        "total_ms": round(sum(medians), 2),
        "max_total_ms": round(max(sum(run) for run in runs) * 1000, 2),
        "errors": errors[:2],
        "cost": estimate,
        "as_expected": not case.all_errors or tuple(errors) == case.all_errors,
    }


@contextmanager
def serving(directory: Path) -> Iterator[tuple[str, int]]:
    """``kasparro serve`` over the shipped CSVs in ``directory``; yields (base URL, pid)."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 'validation.db'}",
        "ETL_SOURCES": "csv,csv2",
        "CSV_PATH": str(ROOT / "data" / "data.csv"),
        "CSV2_PATH": str(ROOT / "data" / "data2.csv"),
        "ASSETS_PATH": str(ROOT / "data" / "assets.csv"),
        "ETL_ON_STARTUP": "false",
        "LOG_LEVEL": "ERROR",
    }
    kasparro = [sys.executable, "-m", "kasparro.cli"]
    subprocess.run([*kasparro, "etl"], env=env, check=True, capture_output=True)
    port = free_port()
    with server([*kasparro, "serve", "--port", str(port)], port, env) as (base, process):
        yield base, process.pid


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return round(int(found.group(1)) / 1024, 1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def phase(
    base: str, seconds: float, send: Callable[[httpx.Client, int], None] | None
) -> dict[str, Any]:
    """/health latencies (ms) while two threads call ``send`` in a loop for ``seconds``."""
    stop = threading.Event()
    health: list[float] = []
    sent: list[float] = []

    def poll() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                health.append((time.perf_counter() - started) * 1000)
                time.sleep(0.02)

    def load(worker: int) -> None:
        assert send is not None
        with httpx.Client(base_url=base, timeout=60) as client:
            n = worker
            while not stop.is_set():
                started = time.perf_counter()
                send(client, n)
                sent.append((time.perf_counter() - started) * 1000)
                n += 2

    threads = [threading.Thread(target=poll)]
    if send is not None:
        threads += [threading.Thread(target=load, args=(worker,)) for worker in (0, 1)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return {
        "health_requests": len(health),
        "health_p50_ms": round(percentile(health, 0.5), 1),
        "health_p99_ms": round(percentile(health, 0.99), 1),
        "health_max_ms": round(max(health), 1),
        "requests_sent": len(sent),
        "request_p50_ms": round(percentile(sent, 0.5), 1),
    }


def finish(name: str, results: dict[str, Any], failures: list[str]) -> int:
    """Write ``results`` and ``failures`` to ``bench/out/<name>.json``, print each failure;
    the exit status (1 when any bound failed)."""
    (OUT / f"{name}.json").write_text(json.dumps({**results, "failures": failures}, indent=2))
    for failure in failures:
        print("FAILED:", failure, file=sys.stderr)
    return 1 if failures else 0


def report_phases(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """Print ``phase`` results as a Markdown table; the bounds (``--health-p50-ms``,
    ``--health-max-ms``) they miss."""
    failures = []
    print(
        "| while two clients send | /health requests | p50 ms | p99 ms | max ms "
        "| their requests | their p50 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['health_requests']} | {row['health_p50_ms']} | "
            f"{row['health_p99_ms']} | {row['health_max_ms']} | {row['requests_sent']} | "
            f"{row['request_p50_ms']} |"
        )
        if row["health_p50_ms"] > args.health_p50_ms:
            failures.append(f"/health median {row['health_p50_ms']} ms during {name}")
        if row["health_max_ms"] > args.health_max_ms:
            failures.append(f"/health slowest {row['health_max_ms']} ms during {name}")
    return failures


def post(client: httpx.Client, query: str) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def serve_part(args: argparse.Namespace) -> dict[str, Any]:
    cases = [case for case in worst_cases() if not case.family.startswith("literal")]
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as directory, serving(Path(directory)) as (base, pid):

        def worst(client: httpx.Client, n: int) -> None:
            case = cases[n % len(cases)]
            post(client, f"{case.query}\n# {n}")  # a comment: distinct text, same tokens

        def full_page(client: httpx.Client, n: int) -> None:
            assert len(post(client, FULL_PAGE)["data"]["records"]["nodes"]) == 1000

        def amplified(client: httpx.Client, n: int) -> None:
            assert post(client, AMPLIFIED)["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"

        result["rss_start_mb"] = rss_mb(pid)
        for name, send in (
            ("idle", None),
            ("worst validation cases", worst),
            ("costliest allowed query", full_page),
            ("refused amplification", amplified),
        ):
            result[name] = phase(base, args.seconds, send)
        memory: dict[str, float] = {"after the phases": rss_mb(pid)}
        with httpx.Client(base_url=base, timeout=60) as client:
            for n in range(1000):
                post(client, f'{{ assets(symbol: "{n}{"y" * 50_000}") {{ id }} }}')
            memory["after 1,000 distinct 50 KB documents"] = rss_mb(pid)
            for n in range(300):
                body = post(client, f'{{ assets(symbol: "{n}{"y" * 1_000_000}") {{ id }} }}')
                assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
            memory["after 300 distinct 1 MB documents"] = rss_mb(pid)
            for n in range(300):
                post(client, f"{{ health {{ {'db ' * 4990}}} }} # {n}")
            memory["after 300 distinct 5,000-token documents"] = rss_mb(pid)
        result["rss_mb"] = memory
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--bound-ms", type=float, default=250)
    parser.add_argument("--health-p50-ms", type=float, default=100)
    parser.add_argument("--health-max-ms", type=float, default=1000)
    parser.add_argument("--rss-bound-mb", type=float, default=256)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    timings = [time_case(case, args.repeat) for case in [*worst_cases(), *ordinary_cases()]]
    print("| document | bytes | parse ms | validate ms | cost ms | total ms (max) | result |")
    print("|---|---|---|---|---|---|---|")
    for row in timings:
        outcome = "; ".join(row["errors"]) if row["errors"] else f"valid, cost {row['cost']}"
        print(
            f"| {row['family']} | {row['bytes']:,} | {row['parse_ms']} | {row['validate_ms']} | "
            f"{row['cost_ms']} | {row['total_ms']} ({row['max_total_ms']}) | {outcome[:60]} |"
        )
        if row["total_ms"] > args.bound_ms:
            failures.append(f"{row['family']}: {row['total_ms']} ms > {args.bound_ms} ms")
        if not row["as_expected"]:
            failures.append(f"{row['family']}: unexpected errors {row['errors']}")

    served = serve_part(args)
    print()
    phases = ("idle", "worst validation cases", "costliest allowed query", "refused amplification")
    failures += report_phases({name: served[name] for name in phases}, args)
    print(f"\n| server RSS | MB |\n|---|---|\n| at start | {served['rss_start_mb']} |")
    for name, value in served["rss_mb"].items():
        print(f"| {name} | {value} |")
        if value > args.rss_bound_mb:
            failures.append(f"RSS {value} MB {name}")

    return finish("validation", {"timings": timings, "serving": served}, failures)


if __name__ == "__main__":
    raise SystemExit(main())
