"""Text a client sends is valid Unicode or refused with a 400: never a 500, never an
"Unexpected error." (``gql.text``), on SQLite and PostgreSQL.

Before: a ``/data`` cursor whose JSON held ``\\ud800`` reached the database driver (500);
a GraphQL variable holding one was "Unexpected error." with a traceback logged as a bug;
a POST /graphql body that is not UTF-8 was a 500.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.store import Store

TOKEN = "s3cret-token"
SURROGATES = ("\\ud800", "\\udfff", "\\udbff", "x\\ud800y", "\\udc00\\ud800")
"""JSON escapes of lone surrogates (a low before a high is no pair either)."""
NOT_UTF8 = (b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80")
"""An invalid byte, a truncated sequence, an overlong '/', a UTF-8-encoded surrogate
(CESU-8), a truncated euro sign, a five-byte form."""
RECORDS = "query($v: [String!]) { records(ARGUMENT: $v) { nodes { source } } }"


@pytest.fixture
def admin(database_url: str, store: Store) -> Iterator[TestClient]:
    config = make_settings(database_url, ADMIN_TOKEN=TOKEN).app_config()
    with TestClient(create_app(config)) as client:
        yield client


@pytest.fixture(autouse=True)
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    bad = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not bad, [record.getMessage() for record in bad]


def refused(response: object, contains: str) -> None:
    """A 400 with the service's JSON error body, saying ``contains``."""
    status = getattr(response, "status_code", None)
    assert status == 400, getattr(response, "text", response)
    body = response.json()  # type: ignore[attr-defined]
    if response.request.url.path == "/graphql":  # type: ignore[attr-defined]
        # A GraphQL response: errors with a code, no data (nothing ran).
        assert set(body) == {"errors"}
        (error,) = body["errors"]
        assert contains in error["message"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        return
    assert set(body) == {"error", "request_id"}
    assert contains in body["error"]
    assert response.headers["x-request-id"] == body["request_id"]  # type: ignore[attr-defined]


def post(client: TestClient, raw: bytes, path: str = "/graphql", **headers: str) -> object:
    return client.post(path, content=raw, headers={"content-type": "application/json", **headers})


def cursor_with(parts: list[str]) -> str:
    payload = "[" + ",".join(f'"{part}"' for part in parts) + "]"
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("at", range(1, 5))
@pytest.mark.parametrize("escape", SURROGATES)
def test_a_cursor_holding_a_lone_surrogate_is_a_400(
    client: TestClient, at: int, escape: str
) -> None:
    parts = ["k1", "desc", "2021-01-01T00:00:00+00:00", "csv", "BTC"]
    parts[at] = escape
    response = client.get("/data", params={"cursor": cursor_with(parts)})
    refused(response, "invalid cursor: not a token issued by this service")
    body = {
        "query": "query($a: String) { records(after: $a) { nodes { source } } }",
        "variables": {"a": cursor_with(parts)},
    }
    answer = client.post("/graphql", json=body).json()
    assert answer["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert answer["errors"][0]["message"].startswith("invalid cursor")


@pytest.mark.parametrize("escape", SURROGATES)
@pytest.mark.parametrize("argument", ["source", "recordId", "asset", "symbol"])
def test_a_variable_holding_a_lone_surrogate_is_a_400(
    client: TestClient, escape: str, argument: str
) -> None:
    query = json.dumps(RECORDS.replace("ARGUMENT", argument))
    good = ", ".join(['"btc"'] * 50)
    # One poison value among fifty good ones.
    raw = f'{{"query": {query}, "variables": {{"v": [{good}, "{escape}"]}}}}'.encode()
    refused(post(client, raw), "GraphQL request: a string holds a lone surrogate")
    # The same through GET and its `variables` parameter.
    params = {"query": RECORDS.replace("ARGUMENT", argument), "variables": f'{{"v": ["{escape}"]}}'}
    refused(client.get("/graphql", params=params), "a string holds a lone surrogate")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"query": "{ records(symbol: [\\"\\ud800\\"]) { nodes { source } } }"}',  # in the text
        b'{"query": "{ health { db } }", "operationName": "\\ud800"}',
        b'{"query": "{ health { db } }", "variables": {"\\ud800": 1}}',  # a key
        b'{"query": "{ health { db } }", "extensions": {"a": [[["\\udfff"]]]}}',  # nested
    ],
    ids=["document", "operation-name", "variable-key", "extensions"],
)
def test_a_lone_surrogate_anywhere_in_the_request_is_a_400(client: TestClient, raw: bytes) -> None:
    refused(post(client, raw), "a string holds a lone surrogate")


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u{D800}"])
def test_a_surrogate_escape_in_a_string_literal_is_a_syntax_error(
    client: TestClient, escape: str
) -> None:
    query = '{ records(symbol: ["btc", "ESCAPE"]) { nodes { source } } }'.replace("ESCAPE", escape)
    response = client.post("/graphql", json={"query": query})
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["message"].startswith("Syntax Error: Invalid Unicode escape sequence")


@pytest.mark.parametrize("bad", NOT_UTF8)
def test_a_body_that_is_not_utf8_is_a_400(client: TestClient, bad: bytes) -> None:
    raw = b'{"query": "{ records(symbol: [\\"' + bad + b'\\"]) { nodes { source } } }"}'
    refused(post(client, raw), "GraphQL request: not valid UTF-8")


def test_a_body_that_is_not_json_is_a_json_400(client: TestClient) -> None:
    refused(post(client, b'{"query": '), "GraphQL request: not valid JSON")
    refused(post(client, b'{"nothing": 1}'), "no GraphQL document")


@pytest.mark.parametrize(
    "raw",
    [b'{"sources": ["\\ud800"]}', b'{"sources": ["csv", "\\udfff"]}', b'{"sources": ["\xff"]}'],
)
def test_the_etl_run_body_is_checked_alike(admin: TestClient, raw: bytes) -> None:
    response = post(admin, raw, "/etl/run", authorization=f"Bearer {TOKEN}")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["error"].startswith("body: ")  # type: ignore[attr-defined]


def test_good_text_still_passes(client: TestClient, store: Store) -> None:
    # A surrogate pair is one character; non-ASCII text is text.
    raw = json.dumps(
        {
            "query": RECORDS.replace("ARGUMENT", "symbol"),
            "variables": {"v": ["\U0001f600", "é", "btc"]},
        }
    ).encode()
    response = post(client, raw)
    assert response.status_code == 200  # type: ignore[attr-defined]
    nodes = response.json()["data"]["records"]["nodes"]  # type: ignore[attr-defined]
    assert len(nodes) == len([row for row in store.records if row["symbol"] == "BTC"])
