"""Differential test: generated operations answered compiled and normally, byte for byte.

The operations read ``records`` (about 70%) or ``latestPrices`` (``tests.gql.compiled.operations``).

Each example is sent twice to two apps over the same store of known rows (GRAPHQL_COMPILED
on and off) through the real HTTP endpoint; status, content type and body bytes must be
equal. Bounded for CI: 2000 examples on SQLite, 500 on PostgreSQL (marked slow); the fast
lane runs a fixed sample of SAMPLE examples (derandomized: the same ones every time).
"""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from kasparro.db.queries import Keyset
from kasparro.gql.cursors import encode_cursor
from tests.conftest import ON_POSTGRESQL
from tests.gql.compiled.conftest import Pair
from tests.gql.compiled.operations import Operation, operations
from tests.gql.store import Store

EXAMPLES = 500 if ON_POSTGRESQL else 2000
SAMPLE = 60


def store_cursors(store: Store) -> dict[str, tuple[str, ...]]:
    """Cursors of a few rows, by the order they continue."""
    rows = store.newest_first()[::7]
    return {
        order: tuple(
            encode_cursor(Keyset(row["timestamp"], row["source"], row["record_id"]), order)
            for row in rows
        )
        for order in ("asc", "desc")
    }


@pytest.mark.slow
def test_compiled_and_normal_execution_answer_alike(
    pair: Pair, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    answer_alike(pair, store, caplog, EXAMPLES, derandomize=False)


def test_a_fixed_sample_answers_alike(
    pair: Pair, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    answer_alike(pair, store, caplog, SAMPLE, derandomize=True)


def answer_alike(
    pair: Pair, store: Store, caplog: pytest.LogCaptureFixture, examples: int, derandomize: bool
) -> None:
    caplog.set_level(logging.ERROR, logger="kasparro.gql.compiled")
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        derandomize=derandomize,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(operation=operations(store_cursors(store)))
    def check(operation: Operation) -> None:
        request = (operation.query, operation.variables, operation.operation_name)
        status, body = pair.send(*request, method=operation.method)
        # Again: a planned operation now takes the view's shortcut (gql.compiled.fastpath).
        assert pair.send(*request, method=operation.method) == (status, body)
        answer = json.loads(body) if status == 200 else {}
        plan = pair.plans.get(operation.query, operation.name)
        outcomes["compiled" if plan is not None and "errors" not in answer else "normal"] += 1
        if plan is not None and "errors" not in answer:
            outcomes[f"compiled {plan.root_field}"] += 1
        outcomes["errors" if "errors" in answer else "data"] += 1

    check()
    assert not caplog.records, "the compiled path failed and fell back"
    total = outcomes["compiled"] + outcomes["normal"]
    assert total >= examples
    # The generator must mostly exercise the compiled path, and the fallbacks too.
    assert outcomes["compiled"] >= total * 0.4, outcomes
    assert outcomes["compiled latestPrices"] >= total * 0.1, outcomes
    # Each compiled operation's second request took the view's shortcut.
    assert pair.shortcut.answered >= outcomes["compiled"], outcomes
    assert outcomes["errors"] >= total * 0.05, outcomes
