"""GraphQL ``records`` as a Relay connection: forward and backward walks, pages of 0,
windows between cursors, resuming from the end to poll for new rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from kasparro.db.tables import records
from tests.gql.conftest import graphql
from tests.gql.store import T0, Store

PAGE = """
query Page($first: Int, $after: String, $last: Int, $before: String, $order: SortOrder,
           $source: [String!]) {
  records(first: $first, after: $after, last: $last, before: $before, order: $order,
          source: $source) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id source recordId timestamp } }
  }
}
"""

Key = tuple[str, str, str]


def page(client: TestClient, **variables: Any) -> dict[str, Any]:
    body = graphql(client, PAGE, **variables)
    assert "errors" not in body, body
    connection: dict[str, Any] = body["data"]["records"]  # type: ignore[index]
    edges = connection["edges"]
    info = connection["pageInfo"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
    return connection


def keys(connection: dict[str, Any]) -> list[Key]:
    return [
        (edge["node"]["timestamp"], edge["node"]["source"], edge["node"]["recordId"])
        for edge in connection["edges"]
    ]


def walk(client: TestClient, size: int, backward: bool, **variables: Any) -> list[Key]:
    """Every row: forward, ``first`` rows ``after`` each page's endCursor; backward, ``last``
    rows ``before`` each page's startCursor. The flag on the far side of the cursor says
    whether a row lies there (the cursor's own row does)."""
    ahead, behind = (
        ("hasPreviousPage", "hasNextPage") if backward else ("hasNextPage", "hasPreviousPage")
    )
    seen: list[Key] = []
    cursor = None
    while True:
        connection = page(
            client,
            **{"last" if backward else "first": size, "before" if backward else "after": cursor},
            **variables,
        )
        info = connection["pageInfo"]
        assert info[behind] == (cursor is not None)
        seen = keys(connection) + seen if backward else seen + keys(connection)
        if not info[ahead]:
            return seen
        cursor = info["startCursor" if backward else "endCursor"]


@pytest.mark.parametrize("size", [1, 5, 7, 48, 1000])
def test_walks_both_ways_see_every_row_once(client: TestClient, store: Store, size: int) -> None:
    newest = store.keys(store.newest_first())  # ties on every timestamp
    for backward in (False, True):
        assert walk(client, size, backward) == newest
        assert walk(client, size, backward, order="ASC") == newest[::-1]
        csv = store.keys(store.newest_first(source="csv"))
        assert walk(client, size, backward, source=["csv"]) == csv


def test_last_reads_the_end_of_the_order(client: TestClient, store: Store) -> None:
    newest = store.keys(store.newest_first())
    tail = page(client, last=3)
    assert keys(tail) == newest[-3:]  # the three oldest, still newest first
    assert tail["pageInfo"]["hasPreviousPage"] and not tail["pageInfo"]["hasNextPage"]
    # Going on from the end forward finds nothing more; back from the start, nothing either.
    after_end = page(client, first=5, after=tail["pageInfo"]["endCursor"])
    assert after_end["edges"] == [] and not after_end["pageInfo"]["hasNextPage"]
    assert after_end["pageInfo"]["hasPreviousPage"]
    head = page(client, first=2)
    before_start = page(client, last=5, before=head["pageInfo"]["startCursor"])
    assert before_start["edges"] == [] and not before_start["pageInfo"]["hasPreviousPage"]


def test_a_window_between_two_cursors(client: TestClient, store: Store) -> None:
    newest = store.keys(store.newest_first())
    ten = page(client, first=10)
    start, end = ten["edges"][1]["cursor"], ten["edges"][8]["cursor"]
    assert keys(page(client, first=100, after=start, before=end)) == newest[2:8]
    front = page(client, first=4, after=start, before=end)
    assert keys(front) == newest[2:6] and front["pageInfo"]["hasNextPage"]
    back = page(client, last=4, after=start, before=end)
    assert keys(back) == newest[4:8] and back["pageInfo"]["hasPreviousPage"]
    assert back["pageInfo"]["hasNextPage"]  # the row at `before` is there


def test_a_page_of_zero_rows(client: TestClient, store: Store) -> None:
    for size in ("first", "last"):
        connection = page(client, **{size: 0})
        assert connection["edges"] == []
        assert connection["pageInfo"] == {
            "hasNextPage": size == "first",  # rows exist beyond the empty page
            "hasPreviousPage": size == "last",
            "startCursor": None,
            "endCursor": None,
        }


def test_resume_from_the_end_to_poll_for_new_rows(
    client: TestClient, store: Store, engine: Engine
) -> None:
    everything = page(client, first=1000, order="ASC")
    assert len(everything["edges"]) == len(store.records)
    assert not everything["pageInfo"]["hasNextPage"]
    end = everything["pageInfo"]["endCursor"]
    assert page(client, first=10, after=end, order="ASC")["edges"] == []
    newer = dict(store.records[0], timestamp=T0 + timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(insert(records), [newer])
    polled = page(client, first=10, after=end, order="ASC")
    assert keys(polled) == store.keys([newer])
    assert polled["pageInfo"]["hasPreviousPage"] and not polled["pageInfo"]["hasNextPage"]


def test_a_cursor_keeps_its_order_as_before(client: TestClient, store: Store) -> None:
    cursor = page(client, first=1)["pageInfo"]["endCursor"]
    body = graphql(client, PAGE, last=2, before=cursor, order="ASC")
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith(  # type: ignore[index]
        "cursor was issued for order DESC but this request asks for ASC"
    )


FLAGS = (
    "query($after: String) { records(first: 2, after: $after) { pageInfo { %s } nodes { %s } } }"
)


def test_the_far_side_is_probed_only_when_asked(
    client: TestClient, store: Store, app_statements: list[str]
) -> None:
    after = page(client, first=3)["pageInfo"]["endCursor"]
    # The compiled path, then normal execution (a record's asset is not compiled).
    for node in ("source", "source asset { id }"):
        for flags, probes in (("hasNextPage endCursor", 0), ("hasPreviousPage", 1)):
            app_statements.clear()
            body = graphql(client, FLAGS % (flags, node), after=after)
            assert "errors" not in body, body
            info = body["data"]["records"]["pageInfo"]  # type: ignore[index]
            assert all(info[name] is True for name in info if name.startswith("has")), info
            reads = [s for s in app_statements if "FROM records" in s]
            assert len(reads) == 1 + probes, reads
