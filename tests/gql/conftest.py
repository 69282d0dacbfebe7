"""Fixtures for the HTTP layer: a store of known rows and clients of the real app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
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


def graphql(client: TestClient, query: str, **variables: object) -> dict[str, object]:
    """POST ``query``; return the JSON body (status 200 is asserted)."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


__all__ = ["graphql", "make_settings"]
