"""Operation-name labels of the GraphQL metrics: a flood of random names cannot push the
real operations into ``other``.

Before: the first 200 names seen took the label slots for good, failed or not; any client
could send 200 random names and every operation after them counted as ``other``.
"""

from __future__ import annotations

import random
import re
import string

import pytest
from starlette.testclient import TestClient

from kasparro.gql.observability.instruments import MAX_OPERATIONS
from kasparro.gql.observability.labels import OTHER, OperationLabels
from tests.gql.conftest import graphql

REAL = {
    "Latest": "query Latest { latestPrices { value } }",
    "Page": "query Page { records(first: 2) { nodes { source } } }",
    "Runs": "query Runs { etlRuns { id } }",
}


def operation_counts(client: TestClient) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").text
    found: dict[tuple[str, str], float] = {}
    for operation, status, value in re.findall(
        r'kasparro_graphql_operations_total\{operation="([^"]*)",status="([^"]*)",'
        r'type="[^"]*"\} ([0-9.e+]+)',
        text,
    ):
        found[operation, status] = float(value)
    return found


def names(count: int, seed: int) -> list[str]:
    draw = random.Random(seed)
    return ["R" + "".join(draw.choices(string.ascii_letters, k=12)) for _ in range(count)]


@pytest.mark.slow
def test_a_flood_of_random_names_cannot_hide_the_real_operations(client: TestClient) -> None:
    for _ in range(3):
        for query in REAL.values():
            graphql(client, query)
    # The flood: 1,000 random names, half failing, half succeeding twice.
    for n, name in enumerate(names(1000, seed=1)):
        if n % 2:
            graphql(client, f"query {name} {{ nope }}")
        else:
            graphql(client, f"query {name} {{ __typename }}")
            graphql(client, f"query {name} {{ __typename }}")
    # A real operation that is new, used during the flood, earns its label too.
    for name in names(300, seed=2):
        graphql(client, f"query {name} {{ __typename }}")
        graphql(client, "query Fresh { stats { recordsTotal } }")
    for query in REAL.values():
        graphql(client, query)
    counts = operation_counts(client)
    for name in REAL:
        assert counts[name, "success"] == 4
    assert counts["Fresh", "success"] >= 294  # hidden only for its first few uses
    labels = {operation for operation, _ in counts}
    assert len(labels - {OTHER, "anonymous", "unknown"}) <= MAX_OPERATIONS
    assert counts[OTHER, "error"] == 500  # failed operations never earned a label
    assert not any((name, "error") in counts for name in names(1000, seed=1))


def test_failed_operations_earn_no_label() -> None:
    labels = OperationLabels(capacity=2, candidates=10)
    assert labels.label("Broken", ok=False) == OTHER
    assert labels.label("Good", ok=True) == "Good"
    assert labels.label("Good", ok=False) == "Good"  # a labelled name keeps it when failing
    assert labels.held == {"Good"}


def test_a_name_takes_a_label_from_one_used_much_less() -> None:
    evicted: list[str] = []
    labels = OperationLabels(capacity=2, candidates=10, on_evict=evicted.append)
    for name in ("A", "B", "A", "A", "B"):
        assert labels.label(name, ok=True) == name  # A: 3, B: 2
    assert [labels.label("C", ok=True) for _ in range(5)] == [OTHER] * 4 + ["C"]  # 5 > 2 x 2
    assert labels.held == {"A", "C"} and evicted == ["B"]
    # B's score was kept: it needs more than twice the weakest label's score back.
    assert labels.label("B", ok=True) == OTHER


def test_the_candidate_table_is_bounded_and_keeps_the_frequent() -> None:
    labels = OperationLabels(capacity=1, candidates=5)
    labels.label("Held", ok=True)
    for _ in range(2):
        labels.label("Real", ok=True)  # Real: 2, a candidate
    for name in names(100, seed=3):
        assert labels.label(name, ok=True) == OTHER
    assert len(labels.candidates) == 5
    assert labels.candidates["Real"] == 2  # never the lowest, never evicted
