"""Page sizes come from the settings, never from the schema: DEFAULT_PAGE_SIZE when
``first`` is absent (or null), refused above MAX_PAGE_SIZE; GraphQL and REST alike, on
the compiled path and the normal one."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.conftest import graphql
from tests.gql.store import Store

RECORDS = "{ records { nodes { source recordId } pageInfo { hasNextPage } } }"


@pytest.mark.parametrize("compiled", ["true", "false"])
def test_a_plain_records_query_gets_default_page_size_under_a_small_maximum(
    database_url: str, store: Store, compiled: str
) -> None:
    settings = make_settings(
        database_url, MAX_PAGE_SIZE="50", DEFAULT_PAGE_SIZE="20", GRAPHQL_COMPILED=compiled
    )
    with TestClient(create_app(settings.app_config())) as client:
        for _ in range(2):  # the second time from the compiled path's plan, when on
            body = graphql(client, RECORDS)
            assert "errors" not in body
            page = body["data"]["records"]  # type: ignore[index]
            assert len(page["nodes"]) == 20 and page["pageInfo"]["hasNextPage"] is True
        null = graphql(client, "{ records(first: null) { nodes { recordId } } }")
        assert len(null["data"]["records"]["nodes"]) == 20  # type: ignore[index]
        over = graphql(client, "{ records(first: 51) { nodes { recordId } } }")
        assert over["data"] is None
        assert over["errors"][0]["message"] == (  # type: ignore[index]
            "first must be at most 50 (MAX_PAGE_SIZE), got 51"
        )
        assert len(client.get("/data").json()["data"]) == 20


def test_assets_get_default_page_size(database_url: str, store: Store) -> None:
    settings = make_settings(database_url, MAX_PAGE_SIZE="50", DEFAULT_PAGE_SIZE="2")
    with TestClient(create_app(settings.app_config())) as client:
        body = graphql(client, "{ assets { id } }")
        assert body["data"] == {"assets": [{"id": "bitcoin"}, {"id": "ethereum"}]}
        every = graphql(client, "{ assets(first: 50) { id } }")
        assert len(every["data"]["assets"]) == len({r["asset_id"] for r in store.records})  # type: ignore[index]
