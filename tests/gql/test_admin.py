"""runEtl and POST /etl/run: refused without the admin token, and what they return."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from starlette.testclient import TestClient

from kasparro.db.tables import etl_run_sources, etl_runs
from kasparro.gql.app import create_app
from kasparro.gql.config import AppConfig
from tests.conftest import make_settings
from tests.gql.conftest import graphql
from tests.gql.store import T0

TOKEN = "s3cret-token"
MUTATION = (
    "mutation($s: [String!]) { runEtl(sources: $s) { id status trigger sources { source } } }"
)


@dataclass
class Summary:
    run_id: int | None
    status: str
    error: str | None = None
    recorded: bool = True


@dataclass
class FakeRunner:
    """Records what it was asked and writes a finished run, like the scheduler would."""

    engine: Engine
    calls: list[Sequence[str] | None] = field(default_factory=list)

    async def run_now(self, sources: Sequence[str] | None = None) -> Summary:
        self.calls.append(sources)
        with self.engine.begin() as conn:
            run_id = conn.execute(
                insert(etl_runs).returning(etl_runs.c.id),
                {
                    "status": "success",
                    "trigger": "manual",
                    "started_at": T0,
                    "finished_at": T0 + timedelta(seconds=1),
                },
            ).scalar_one()
            conn.execute(
                insert(etl_run_sources),
                [
                    {"run_id": run_id, "source": name, "status": "success", "started_at": T0}
                    for name in sources or ("csv",)
                ],
            )
        return Summary(run_id, "success")


@pytest.fixture
def runner(engine: Engine) -> FakeRunner:
    return FakeRunner(engine)


def app_with(database_url: str, runner: FakeRunner, **env: str) -> TestClient:
    @contextlib.asynccontextmanager
    async def fake(engine: Engine, config: AppConfig) -> AsyncIterator[FakeRunner]:
        yield runner

    return TestClient(create_app(make_settings(database_url, **env).app_config(), etl=fake))


@pytest.fixture
def admin(database_url: str, runner: FakeRunner) -> Iterator[TestClient]:
    with app_with(database_url, runner, ADMIN_TOKEN=TOKEN) as client:
        yield client


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({}, 401, "send the admin token as `Authorization: Bearer <ADMIN_TOKEN>`"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "send the admin token"),
        ({"Authorization": "Bearer wrong"}, 401, "wrong admin token"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 401, "wrong admin token"),
    ],
)
def test_missing_or_wrong_token_is_refused(
    admin: TestClient, runner: FakeRunner, headers: dict[str, str], status: int, message: str
) -> None:
    rest = admin.post("/etl/run", headers=headers)
    assert rest.status_code == status
    assert message in rest.json()["error"]
    assert rest.headers["www-authenticate"] == "Bearer"
    body = admin.post("/graphql", json={"query": MUTATION}, headers=headers).json()
    assert body["data"] is None
    assert message in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert runner.calls == []


def test_without_admin_token_the_mutation_is_disabled(
    database_url: str, runner: FakeRunner
) -> None:
    cases = [
        ({}, 401, "(and this server has no ADMIN_TOKEN set)"),
        ({"Authorization": "Bearer "}, 401, "(and this server has no ADMIN_TOKEN set)"),
        ({"Authorization": "Bearer x"}, 403, "the server has no ADMIN_TOKEN set"),
    ]
    with app_with(database_url, runner) as client:
        for headers, status, message in cases:
            rest = client.post("/etl/run", headers=headers)
            assert rest.status_code == status
            assert message in rest.json()["error"]
            body = client.post("/graphql", json={"query": MUTATION}, headers=headers).json()
            assert message in body["errors"][0]["message"]
    assert runner.calls == []


def test_run_etl_with_the_token(admin: TestClient, runner: FakeRunner) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = admin.post(
        "/graphql", json={"query": MUTATION, "variables": {"s": ["CSV", "csv2"]}}, headers=auth
    ).json()
    assert body == {
        "data": {
            "runEtl": {
                "id": 1,
                "status": "SUCCESS",
                "trigger": "manual",
                "sources": [{"source": "csv"}, {"source": "csv2"}],
            }
        }
    }
    rest = admin.post("/etl/run", headers=auth, json={"sources": ["coingecko"]})
    assert rest.status_code == 200
    run = rest.json()
    assert run["id"] == 2 and run["status"] == "success" and run["duration_ms"] == 1000
    assert [s["source"] for s in run["sources"]] == ["coingecko"]
    assert run["request_id"] == rest.headers["x-request-id"]
    assert admin.post("/etl/run", headers=auth).status_code == 200
    assert runner.calls == [("csv", "csv2"), ("coingecko",), None]


def test_run_etl_rejects_bad_sources(admin: TestClient, runner: FakeRunner) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = graphql_with(admin, auth, ["nasdaq"])
    assert "unknown source 'nasdaq'" in body["errors"][0]["message"]
    # b"\n": found by fuzzing; a blank body is not JSON (an empty one is no body).
    for payload in (b"{", b'{"sources": "csv"}', b'{"other": 1}', b"[]", b"\n", b"  "):
        response = admin.post("/etl/run", headers=auth, content=payload)
        assert response.status_code == 400, payload
    assert runner.calls == []


def graphql_with(client: TestClient, headers: dict[str, str], sources: list[str]) -> dict[str, Any]:
    response = client.post(
        "/graphql", json={"query": MUTATION, "variables": {"s": sources}}, headers=headers
    )
    body: dict[str, Any] = response.json()
    return body


def test_mutation_is_not_allowed_over_get(admin: TestClient) -> None:
    response = admin.get(
        "/graphql",
        params={"query": "mutation { runEtl { id } }"},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json() == {
        "errors": [
            {
                "message": "a mutation cannot be sent with GET; use POST",
                "extensions": {"code": "METHOD_NOT_ALLOWED"},
            }
        ]
    }
    assert graphql(admin, "{ health { db } }")["data"] == {"health": {"db": "ok"}}
