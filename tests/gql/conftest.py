"""Fixtures for the HTTP layer: a store of known rows and clients of the real app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.settings import Settings
from tests.conftest import make_settings
from tests.gql.store import Store, load_store


@pytest.fixture
def store(engine: Engine) -> Store:
    return load_store(engine)


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings.app_config())) as client:
        yield client


@pytest.fixture
def settings_client(settings: Settings) -> Iterator[TestClient]:
    """A client of the app over an empty store."""
    with TestClient(create_app(settings.app_config())) as client:
        yield client


@pytest.fixture
def app_statements(client: TestClient) -> Iterator[list[str]]:
    """SQL statements the app's engines (primary and read) run while the test goes on."""
    seen: list[str] = []
    state = client.app.state  # type: ignore[attr-defined]
    engines = {id(each): each for each in (state.engine, state.read_engine)}

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    yield seen
    for engine in engines.values():
        event.remove(engine, "before_cursor_execute", record)


def graphql(client: TestClient, query: str, **variables: object) -> dict[str, object]:
    """POST ``query``; return the JSON body (status 200 is asserted)."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


__all__ = ["graphql", "make_settings"]
