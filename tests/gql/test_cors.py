"""CORS_ORIGINS: preflights, allowed and refused origins, credentials never with ``*``; and a
page on another origin calling the API from headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.settings import Settings, SettingsError
from tests.conftest import make_settings
from tests.gql.store import load_store
from tests.support.servers import serve_in_thread
from tests.support.webdriver import browser_missing, chromium

APP_ORIGIN = "https://app.example"
PREFLIGHT = {
    "origin": APP_ORIGIN,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


def client_for(database_url: str, origins: str | None) -> TestClient:
    env = {"CORS_ORIGINS": origins} if origins is not None else {}
    return TestClient(create_app(make_settings(database_url, **env).app_config()))


@pytest.fixture
def listed(database_url: str) -> Iterator[TestClient]:
    with client_for(database_url, f"{APP_ORIGIN}, http://localhost:5173") as client:
        yield client


def test_a_listed_origin_gets_a_preflight_and_tagged_answers(listed: TestClient) -> None:
    response = listed.options("/graphql", headers=PREFLIGHT)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, POST"
    assert response.headers["access-control-allow-headers"] == "authorization, content-type"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-max-age"] == "600"
    assert "Origin" in response.headers["vary"]
    answer = listed.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": APP_ORIGIN}
    )
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "X-Request-ID" in answer.headers["access-control-expose-headers"]
    assert "Origin" in answer.headers["vary"]
    # REST too, and errors too.
    health = listed.get("/health", headers={"origin": APP_ORIGIN})
    assert health.headers["access-control-allow-origin"] == APP_ORIGIN
    refused = listed.post("/graphql", content=b"5", headers={"origin": APP_ORIGIN})
    assert refused.status_code == 415
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN


def test_another_origin_is_refused(listed: TestClient) -> None:
    evil = {**PREFLIGHT, "origin": "https://evil.example"}
    response = listed.options("/graphql", headers=evil)
    assert response.status_code == 403
    assert response.json()["error"] == "origin not allowed (CORS_ORIGINS)"
    assert "access-control-allow-origin" not in response.headers
    answer = listed.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"origin": "https://evil.example"}
    )
    assert answer.status_code == 200  # answered, but the browser withholds it from the page
    assert "access-control-allow-origin" not in answer.headers
    assert "Origin" in answer.headers["vary"]
    # A header list that is not one is not echoed.
    odd = {**PREFLIGHT, "access-control-request-headers": "x\r\ny: z"}
    assert "access-control-allow-headers" not in listed.options("/graphql", headers=odd).headers


def test_any_origin_never_with_credentials(database_url: str) -> None:
    with client_for(database_url, "*") as client:
        response = client.options("/graphql", headers={**PREFLIGHT, "origin": "https://a.example"})
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in response.headers
        answer = client.get("/graphql?query={__typename}", headers={"origin": "https://b.example"})
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers


def test_by_default_no_origin_is_allowed(database_url: str) -> None:
    with client_for(database_url, None) as client:
        response = client.options("/graphql", headers=PREFLIGHT)
        assert response.status_code == 405  # no CORS: OPTIONS is no method of the API
        answer = client.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": APP_ORIGIN}
        )
        assert not [name for name in answer.headers if name.startswith("access-control-")]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("*, https://a.example", "* allows every origin"),
        ("https://a.example/", "is not an origin"),
        ("a.example", "is not an origin"),
        ("https://a.example/path", "is not an origin"),
    ],
)
def test_bad_origins_stop_the_program(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match="CORS_ORIGINS") as raised:
        Settings.from_env({"CORS_ORIGINS": value})
    assert message in str(raised.value)
    origins = Settings.from_env(
        {"CORS_ORIGINS": "HTTPS://A.example:8443, http://b"}
    ).app.cors_origins
    assert origins == ("https://a.example:8443", "http://b")


PAGE = """<!doctype html><title>another origin</title><script>
const api = new URLSearchParams(location.search).get("api");
window.result = null;
fetch(api + "/graphql", {
  method: "POST",
  headers: {"content-type": "application/json", "accept": "application/graphql-response+json",
            "authorization": "Bearer nobody"},
  body: JSON.stringify({query: 'query($id: [String!]) { records(first: 1, recordId: $id)'
                              + ' { nodes { recordId symbol } } }', variables: {id: ["tether"]}}),
}).then(async r => { window.result = {status: r.status, requestId: r.headers.get("x-request-id"),
                                      body: await r.json()}; },
        e => { window.result = {failed: String(e)}; });
</script>"""


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_a_page_on_another_origin_calls_the_api(database_url: str, engine: Engine) -> None:
    load_store(engine)

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    site = Starlette(routes=[Route("/", page)])
    with serve_in_thread(site) as site_base, chromium() as browser:
        site_origin = site_base.replace("127.0.0.1", "localhost")  # another origin still
        allowed = make_settings(database_url, CORS_ORIGINS=site_origin).app_config()
        with serve_in_thread(create_app(allowed)) as api:
            browser.open(f"{site_origin}/?api={api}")
            result = browser.wait_for("return window.result")
        assert result["status"] == 200, result
        assert result["body"] == {
            "data": {"records": {"nodes": [{"recordId": "tether", "symbol": "USDT"}]}}
        }
        assert result["requestId"]  # an exposed header
        refused = make_settings(database_url, CORS_ORIGINS="https://other.example").app_config()
        with serve_in_thread(create_app(refused)) as api:
            browser.open(f"{site_origin}/?api={api}")
            result = browser.wait_for("return window.result")
        assert "failed" in result, result  # the browser kept the answer from the page
