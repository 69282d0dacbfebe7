"""Load: wrk drives 64 connections on loopback at a real `kasparro serve` for 60 s (40 s on
SQLite), mixing REST and GraphQL reads, while the same server's ETL keeps writing (rows
appended to its CSV, then ``POST /etl/run``, over and over). Zero errors, memory flat after
warm-up, p50/p99 latency recorded, and every row the ETL was given is in the store."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ON_POSTGRESQL
from tests.ops.serving import kasparro_serve
from tests.reliability.figures import report
from tests.reliability.loadgen import Call, RssSampler, run_wrk

SECONDS = 60 if ON_POSTGRESQL else 40
CONNECTIONS = 64
WARM_UP_SECONDS = 20 if ON_POSTGRESQL else 15
MEMORY_GROWTH = 1.20  # the last third's peak RSS may exceed the first third's by 20 %
P99_BOUND_MS = 5000  # generous: CI shares two cores with the load generator
TOKEN = "load-admin-token"
SYMBOLS = [f"L{number:03d}" for number in range(1, 41)]
HOURS_PER_CHUNK = 250  # 40 symbols x 250 hours = 10,000 rows per ETL run
T0 = datetime(2022, 1, 1, tzinfo=UTC)
HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"


def append_hours(path: Path, first_hour: int, hours: int) -> int:
    """Append ``hours`` hourly prices of every symbol to the CSV; return the rows written."""
    lines = []
    for hour in range(first_hour, first_hour + hours):
        stamp = (T0 + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for index, symbol in enumerate(SYMBOLS):
            price = 100 + index + hour / 100
            lines.append(
                f"{symbol},Load Coin {symbol},{price:.4f},{price * 1e6:.1f},1234.5,{stamp}\n"
            )
    with path.open("a", encoding="utf-8") as file:
        file.writelines(lines)
    return len(lines)


class EtlWriter(threading.Thread):
    """Append a chunk to the CSV and run the ETL on it, again and again, until stopped."""

    def __init__(self, base_url: str, csv: Path, first_hour: int) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.csv = csv
        self.hour = first_hour
        self.stop = threading.Event()
        self.runs: list[dict[str, Any]] = []
        self.written = 0

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=self.base_url, timeout=120, headers=headers) as client:
            while not self.stop.is_set():
                rows = append_hours(self.csv, self.hour, HOURS_PER_CHUNK)
                self.hour += HOURS_PER_CHUNK
                self.written += rows
                started = time.monotonic()
                response = client.post("/etl/run", json={"sources": ["csv"]})
                run = response.json()
                [source] = run.get("sources") or [{}]
                self.runs.append(
                    {
                        "http": response.status_code,
                        "status": run.get("status"),
                        "rows": rows,
                        "inserted": source.get("inserted"),
                        "seconds": round(time.monotonic() - started, 3),
                    }
                )


RECORDS = """query($s: [String!]) {
  records(first: 50, symbol: $s) { nodes { source recordId value timestamp asset { id symbol } } }
}"""
WINDOW = """query($a: DateTime, $b: DateTime) {
  records(first: 20, order: ASC, since: $a, until: $b) {
    totalCount edges { cursor node { value } }
  }
}"""
LATEST = (
    '{ latestPrices(symbol: ["L001", "L002", "L003"]) { asset { id } source value timestamp } }'
)


def calls(cursor: str) -> list[Call]:
    """The request mix: half REST, half GraphQL, all reads a client would make."""
    since, until = "2022-01-05T00:00:00Z", "2022-01-06T00:00:00Z"
    return [
        Call("/data?limit=100"),
        Call("/data?symbol=L001,L002&limit=50"),
        Call(f"/data?source=csv&since={since}&until={until}"),
        Call(f"/data?symbol=L003&limit=50&cursor={cursor}"),
        Call("/health"),
        Call("/stats"),
        Call("/graphql", {"query": RECORDS, "variables": {"s": ["L004"]}}),
        Call("/graphql", {"query": LATEST}),
        Call("/graphql", {"query": "{ assets(first: 20) { id symbol sources } }"}),
        Call("/graphql", {"query": WINDOW, "variables": {"a": since, "b": until}}),
        Call(
            "/graphql", {"query": "{ etlRuns(first: 3) { id status sources { source inserted } } }"}
        ),
        Call("/graphql", {"query": "{ stats { recordsTotal recordsProcessed } health { db } }"}),
    ]


def memory_figures(samples: list[tuple[float, int]]) -> dict[str, Any]:
    """Peak RSS (KiB) in the first and last thirds of the run after warm-up."""
    settled = [rss for at, rss in samples if at >= WARM_UP_SECONDS]
    third = len(settled) // 3
    assert third >= 3, samples
    return {
        "samples": len(samples),
        "start_kib": samples[0][1],
        "first_third_peak_kib": max(settled[:third]),
        "last_third_peak_kib": max(settled[-third:]),
        "peak_kib": max(rss for _, rss in samples),
        "growth": round(max(settled[-third:]) / max(settled[:third]), 3),
        "every_5s_kib": [rss for at, rss in samples[::10]],
    }


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("wrk") is None,
    reason="wrk is not installed (apt-get install wrk; .ci/run installs it)",
)
def test_load_while_the_etl_writes(
    database_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    csv = tmp_path / "load.csv"
    csv.write_text(HEADER, encoding="utf-8")
    initial = append_hours(csv, 0, 2 * HOURS_PER_CHUNK)
    with (
        kasparro_serve(
            database_url,
            tmp_path,
            "load",
            ADMIN_TOKEN=TOKEN,
            ETL_SOURCES="csv",
            CSV_PATH=str(csv),
        ) as served,
        httpx.Client(base_url=served.base_url, timeout=120) as client,
    ):
        first = client.post(
            "/etl/run", json={"sources": ["csv"]}, headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
        assert (first["status"], first["sources"][0]["inserted"]) == ("success", initial)
        cursor = client.get("/data", params={"symbol": "L003", "limit": 50}).json()["next_cursor"]
        mix = calls(cursor)
        for call in mix:  # every call of the mix is a 200 before the load starts
            answer = client.post(call.path, json=call.body) if call.body else client.get(call.path)
            assert answer.status_code == 200 and "errors" not in answer.json(), answer.text

        sampler = RssSampler(served.process.pid)
        writer = EtlWriter(served.base_url, csv, 2 * HOURS_PER_CHUNK)
        sampler.start()
        writer.start()
        try:
            load = run_wrk(served.base_url, mix, SECONDS, CONNECTIONS, tmp_path)
        finally:
            writer.stop.set()
            writer.join(timeout=180)
            sampler.stop.set()
            sampler.join(timeout=10)
        assert client.get("/health").status_code == 200
        total = client.get("/stats").json()["records_total"]
    memory = memory_figures(sampler.samples)
    figures = {
        "seconds": SECONDS,
        "connections": CONNECTIONS,
        "calls_in_mix": len(mix),
        "wrk": load,
        "memory": memory,
        "etl_runs": writer.runs,
        "rows_written_during_load": writer.written,
        "records_total": total,
    }
    report(
        pytestconfig,
        "load",
        f"{load['requests']} requests in {SECONDS}s at {CONNECTIONS} connections "
        f"({load['requests_per_second']}/s), p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
        f"{load['status_errors']} non-2xx, RSS peak {memory['first_third_peak_kib']} -> "
        f"{memory['last_third_peak_kib']} KiB; {len(writer.runs)} ETL runs wrote "
        f"{writer.written} rows meanwhile",
        figures,
    )
    errors = {name: load[name] for name in load if name.endswith(("errors", "timeouts"))}
    assert errors == dict.fromkeys(errors, 0), figures
    assert load["requests"] > 0
    assert load["p99_ms"] < P99_BOUND_MS, figures
    assert len(writer.runs) >= 2, figures  # the ETL was writing during the load
    for run in writer.runs:
        assert (run["http"], run["status"], run["inserted"]) == (200, "success", run["rows"])
    assert total == initial + writer.written
    assert memory["growth"] <= MEMORY_GROWTH, figures
    assert "Traceback" not in served.log()
