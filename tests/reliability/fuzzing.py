"""Drive schemathesis-generated requests at a running service and tally what came back.

Each API operation gets its own Hypothesis run of a fixed number of positive (schema-valid)
and negative (schema-violating) cases with a fixed seed, so CI is reproducible. Failed
checks are collected (not raised), so one run reports every kind of failure it found, each
with an example request as a curl command.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
from hypothesis import HealthCheck, Phase
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, Response
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import BaseSchema
from sqlalchemy import Engine, func, select

from kasparro.db.tables import asset_aliases, assets, records
from tests.gql.store import load_store
from tests.ops.serving import Served, kasparro_serve
from tests.reliability.figures import report

SEED = int(os.environ.get("KASPARRO_FUZZ_SEED", "20261125"))
"""The Hypothesis seed; set KASPARRO_FUZZ_SEED to explore other inputs."""

TOKEN = "hostile-client-admin-token"
HEADER_ONLY = {
    "csv": "symbol,name,price_usd,market_cap,volume_24h,timestamp\n",
    "csv2": "SNo,Name,Symbol,Date,High,Low,Open,Close,Volume,Marketcap\n",
}

Check = Callable[..., Any]
Inspect = Callable[[Case[Any], Response, "Tally"], None]
Budget = Mapping[str, tuple[int, int]]
"""Operation label (``GET /data``, ``Query.records``) -> (positive, negative) cases."""


@dataclass
class Tally:
    """What a fuzzing run sent and got."""

    cases: Counter[tuple[str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)
    unsatisfiable: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def server_errors(self) -> int:
        return sum(count for (_, status), count in self.statuses.items() if status >= 500)

    def fail(self, name: str, example: str) -> None:
        examples = self.failures.setdefault(name, [])
        if len(examples) < 3:
            examples.append(example)

    def figures(self) -> dict[str, Any]:
        return {
            "cases": self.total,
            "seed": SEED,
            "by_operation": {
                f"{label} {mode}": n for (label, mode), n in sorted(self.cases.items())
            },
            "statuses": {
                f"{label} {status}": n for (label, status), n in sorted(self.statuses.items())
            },
            "failures": self.failures,
            "unsatisfiable": self.unsatisfiable,
            "outcomes": dict(sorted(self.outcomes.items())),
            "seconds": {name: round(took, 2) for name, took in self.seconds.items()},
        }


@dataclass
class _Fuzzer:
    base_url: str
    session: requests.Session
    headers: dict[str, str]
    checks: list[Check]
    excluded_checks: list[Check]
    inspect: Inspect | None
    tally: Tally

    def run(self, operation: Any, mode: GenerationMode, count: int) -> None:
        """Send ``count`` generated cases of ``operation`` in ``mode``; tally them."""
        label = f"{operation.label} {mode.value}"
        tally = self.tally

        @hypothesis.seed(SEED)
        @hypothesis.settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Case[Any]) -> None:
            tally.cases[(operation.label, mode.value)] += 1
            response = case.call(
                base_url=self.base_url, session=self.session, headers=self.headers, timeout=30
            )
            tally.statuses[(operation.label, response.status_code)] += 1
            try:
                case.validate_response(
                    response,
                    additional_checks=self.checks,
                    excluded_checks=self.excluded_checks,
                    headers=self.headers,
                )
            except FailureGroup as group:
                curl = case.as_curl_command(headers=self.headers)
                for failure in group.exceptions:
                    tally.fail(
                        f"{label}: {failure.title}",
                        f"{curl} -> {response.status_code} {response.text[:300]}",
                    )
            if self.inspect is not None:
                self.inspect(case, response, tally)

        started = time.monotonic()
        try:
            one()
        except Unsatisfiable:
            # e.g. no schema-violating request exists for an operation without parameters.
            tally.unsatisfiable.append(label)
        tally.seconds[label] = time.monotonic() - started


def fuzz(
    schema: BaseSchema,
    base_url: str,
    budget: Budget,
    *,
    headers: Mapping[str, str],
    checks: Sequence[Check] = (),
    excluded_checks: Sequence[Check] = (),
    inspect: Inspect | None = None,
) -> Tally:
    """Run every operation in ``budget`` against ``base_url``; return the tally.

    ``checks`` are added to schemathesis's default ones, ``excluded_checks`` removed;
    ``inspect`` looks at each response for what schemathesis cannot know about.
    """
    operations: dict[str, Any] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()
        operations[operation.label] = operation
    missing = set(budget) - set(operations)
    assert not missing, f"no such operations: {sorted(missing)} (have {sorted(operations)})"
    uncovered = set(operations) - set(budget)
    assert not uncovered, f"operations without a budget: {sorted(uncovered)}"
    with requests.Session() as session:
        fuzzer = _Fuzzer(
            base_url, session, dict(headers), list(checks), list(excluded_checks), inspect, Tally()
        )
        for label, (positive, negative) in budget.items():
            fuzzer.run(operations[label], GenerationMode.POSITIVE, positive)
            if negative:
                fuzzer.run(operations[label], GenerationMode.NEGATIVE, negative)
    return fuzzer.tally


def store_fingerprint(engine: Engine) -> tuple[int, str, int, int]:
    """(record count, sha256 of every record in key order, asset count, alias count)."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        count = 0
        rows = conn.execute(
            select(records).order_by(records.c.source, records.c.record_id, records.c.timestamp)
        )
        for row in rows:
            digest.update(repr(tuple(row)).encode())
            count += 1
        asset_count = conn.execute(select(func.count()).select_from(assets)).scalar_one()
        alias_count = conn.execute(select(func.count()).select_from(asset_aliases)).scalar_one()
    return count, digest.hexdigest(), int(asset_count), int(alias_count)


@contextlib.contextmanager
def serve_known_store(
    database_url: str, engine: Engine, workdir: Path, name: str
) -> Iterator[Served]:
    """`kasparro serve` over the known store (tests.gql.store), with the admin token ``TOKEN``
    and ETL inputs that add nothing: header-only CSVs, closed API ports."""
    load_store(engine)
    for source, header in HEADER_ONLY.items():
        (workdir / f"{source}.csv").write_text(header, encoding="utf-8")
    with kasparro_serve(
        database_url,
        workdir,
        name,
        ADMIN_TOKEN=TOKEN,
        CSV_PATH=str(workdir / "csv.csv"),
        CSV2_PATH=str(workdir / "csv2.csv"),
        LOG_LEVEL="WARNING",
    ) as served:
        yield served


MIN_CASES = 1000


def fuzz_known_store(
    config: pytest.Config,
    scenario: str,
    served: Served,
    engine: Engine,
    schema: BaseSchema,
    budget: Budget,
    **options: Any,
) -> Tally:
    """``fuzz`` a service from ``serve_known_store`` with the admin token; report the
    figures; assert what every fuzzing run must show: at least MIN_CASES cases, no 5xx, no
    failed check, no traceback in the server's log, the store unchanged."""
    before = store_fingerprint(engine)
    tally = fuzz(
        schema, served.base_url, budget, headers={"Authorization": f"Bearer {TOKEN}"}, **options
    )
    after = store_fingerprint(engine)
    figures = tally.figures()
    summary = (
        f"{tally.total} cases, {tally.server_errors()} 5xx, {len(tally.failures)} failed checks"
    )
    report(config, scenario, summary, figures)
    assert tally.server_errors() == 0, figures
    assert tally.failures == {}, figures
    assert tally.total >= MIN_CASES, figures
    assert "Traceback" not in served.log()
    assert after == before
    return tally
