"""Hostile GraphQL clients: schemathesis builds queries and mutations from the schema (by
introspection of a real `kasparro serve` over a store of known rows) and sends them. No
5xx, no masked internal error, every refusal a client error that says what to fix, and
the store is the same afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import Case, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from tests.ops.serving import Served
from tests.reliability.fuzzing import Budget, Tally, fuzz_known_store, serve_known_store

BUDGET: Budget = {
    "Query.records": (350, 100),
    "Query.latestPrices": (120, 40),
    "Query.assets": (100, 40),
    "Query.etlRuns": (80, 40),
    "Query.stats": (40, 20),
    "Query.health": (40, 20),
    "Query.candles": (100, 40),
    "Query.consensus": (60, 30),
    "Query.divergences": (60, 30),
    # Each accepted call runs the ETL (over header-only CSVs and closed API ports).
    "Mutation.runEtl": (60, 30),
}
# What a refusal of a well-typed request may be: the service's own input errors.
CLIENT_CODES = {"BAD_USER_INPUT"}


@pytest.fixture
def served(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    with serve_known_store(database_url, engine, tmp_path, "fuzz-graphql") as served:
        yield served


def inspect(case: Case[Any], response: Response, tally: Tally) -> None:
    """What schemathesis cannot judge: the errors are ours, explained, never masked.

    A well-typed (positive) request either gets its field's data or only BAD_USER_INPUT
    errors (GraphQL types cannot say "first between 1 and 1000" or "a cursor this service
    issued", so such refusals are right); an ill-typed (negative) one gets validation
    errors, which have no ``path``.
    """
    label = case.operation.label
    mode = case.meta.generation.mode.value if case.meta else "?"
    example = f"{case.body!r} -> {response.status_code} {response.text[:300]}"
    if response.status_code != 200:
        tally.fail(f"{label} {mode}: HTTP {response.status_code}", example)
        return
    body: Any = json.loads(response.text)
    errors = body.get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if error.get("message") == "Unexpected error." or (
            "path" in error and code not in CLIENT_CODES
        ):
            tally.fail(f"{label} {mode}: internal error", example)
    if mode == "positive":
        field = label.split(".", 1)[1]
        answered = (body.get("data") or {}).get(field) is not None
        if not answered and not errors:
            tally.fail(f"{label} {mode}: neither data nor errors", example)
        tally.outcomes[f"{field} {'answered' if answered else 'refused'}"] += 1
    elif not errors:
        tally.fail(f"{label} {mode}: ill-typed request accepted", example)


@pytest.mark.slow
def test_graphql_fuzzing_from_the_schema(
    served: Served, engine: Engine, pytestconfig: pytest.Config
) -> None:
    schema = schemathesis.graphql.from_url(f"{served.base_url}/graphql")
    tally = fuzz_known_store(
        pytestconfig,
        "fuzz-graphql",
        served,
        engine,
        schema,
        BUDGET,
        # Replaced by ``inspect``: to schemathesis any BAD_USER_INPUT for a well-typed
        # request (first: 0, an unknown source, a random cursor) is a failed check.
        excluded_checks=[positive_data_acceptance],
        inspect=inspect,
    )
    figures = tally.figures()
    # Well-typed requests reached every resolver, not only the input checks.
    fields = (
        "records",
        "latestPrices",
        "assets",
        "etlRuns",
        "stats",
        "health",
        "runEtl",
        "candles",
        "consensus",
        "divergences",
    )
    assert all(tally.outcomes[f"{name} answered"] > 0 for name in fields), figures
    answered = sum(tally.outcomes[f"{name} answered"] for name in fields)
    assert answered >= sum(positive for positive, _ in BUDGET.values()) / 4, figures
