"""Two apps over one store of known rows: the compiled path on and off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.compiled.extension import PlanCache
from kasparro.gql.compiled.fastpath import PlanShortcut
from kasparro.gql.view import GraphQLApp
from tests.conftest import make_settings
from tests.gql.store import Store


def graphql_app(client: TestClient) -> GraphQLApp:
    """The GraphQL endpoint of the app behind ``client``."""
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and isinstance(route.endpoint, GraphQLApp):
            return route.endpoint
    raise AssertionError("no GraphQL route")


def plans_of(client: TestClient) -> PlanCache | None:
    """The plan cache of the app behind ``client`` (None when GRAPHQL_COMPILED is off)."""
    return graphql_app(client).plans


@dataclass
class Pair:
    """The same store served compiled and normally."""

    compiled: TestClient
    normal: TestClient

    @property
    def plans(self) -> PlanCache:
        plans = plans_of(self.compiled)
        assert plans is not None
        return plans

    @property
    def shortcut(self) -> PlanShortcut:
        shortcut = graphql_app(self.compiled).shortcut
        assert shortcut is not None
        return shortcut

    def send(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        method: str = "POST",
    ) -> tuple[int, bytes]:
        """Send to both apps; assert identical status, content type and body; return them."""
        answers = []
        for client in (self.compiled, self.normal):
            if method == "GET":
                params = {"query": query}
                if variables is not None:
                    params["variables"] = json.dumps(variables)
                if operation_name is not None:
                    params["operationName"] = operation_name
                response = client.get("/graphql", params=params)
            else:
                payload: dict[str, Any] = {"query": query}
                if variables is not None:
                    payload["variables"] = variables
                if operation_name is not None:
                    payload["operationName"] = operation_name
                response = client.post("/graphql", json=payload)
            answers.append(
                (response.status_code, response.headers.get("content-type"), response.content)
            )
        assert answers[0] == answers[1], (query, variables, operation_name, method)
        return answers[0][0], answers[0][2]

    def served_compiled(self, query: str, operation_name: str | None = None) -> bool:
        """Whether the compiled path holds a plan for this operation."""
        return self.plans.get(query, operation_name) is not None


@pytest.fixture
def pair(database_url: str, store: Store) -> Iterator[Pair]:
    on = make_settings(database_url).app_config()
    off = make_settings(database_url, GRAPHQL_COMPILED="false").app_config()
    assert on.graphql_compiled and not off.graphql_compiled
    with TestClient(create_app(on)) as compiled, TestClient(create_app(off)) as normal:
        yield Pair(compiled, normal)
