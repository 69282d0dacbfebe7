"""GraphQL over HTTP: every malformed request is a 4xx GraphQL JSON error, never a 500.

Table-driven over bodies, content types, methods and ``Accept``, on the compiled path and
without it. Each refusal is a GraphQL response (``errors`` with ``message`` and
``extensions.code``, no ``data``); errors before execution carry ``locations`` and are 200
in ``application/json`` (the legacy media type) and 400 in
``application/graphql-response+json``.

Before: a body that was a JSON scalar (``5``, ``"x"``, ``true``, ``null``) was a 500, as was
``operationName: {}`` on the compiled path; request errors were ``text/plain``; a mutation
over GET a 400; two operations and no ``operationName`` ran the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from tests.conftest import make_settings
from tests.gql.store import Store

GRAPHQL_RESPONSE = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}


class Case(NamedTuple):
    method: str
    body: bytes | None
    content_type: str | None
    status: int
    code: str
    says: str
    params: dict[str, str] | None = None


def post(body: object, status: int, code: str, says: str) -> Case:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Case("POST", raw, "application/json", status, code, says)


def get(params: dict[str, str], status: int, code: str, says: str) -> Case:
    return Case("GET", None, None, status, code, says, params)


MALFORMED = {
    # The body's JSON is not an object (or a batch of them).
    "number body": post(5, 400, "BAD_REQUEST", "the request body is a JSON number"),
    "string body": post("x", 400, "BAD_REQUEST", "the request body is a JSON string"),
    "true body": post(True, 400, "BAD_REQUEST", "the request body is a JSON boolean"),
    "null body": post(None, 400, "BAD_REQUEST", "the request body is a JSON null"),
    "float body": post(1.5, 400, "BAD_REQUEST", "the request body is a JSON number"),
    "empty batch": post([], 400, "BAD_REQUEST", "the batch is empty"),
    "batch over MAX_BATCH": post([TYPENAME] * 11, 400, "BAD_REQUEST", "over the limit of 10"),
    "not JSON": post(b'{ "not a JSON', 400, "BAD_REQUEST", "not valid JSON"),
    "empty body": post(b"", 400, "BAD_REQUEST", "the request body is empty"),
    "blank body": post(b" \n ", 400, "BAD_REQUEST", "the request body is empty"),
    "not UTF-8": post(b'{"query": "\xff"}', 400, "BAD_REQUEST", "not valid UTF-8"),
    "deep JSON": post(b"[" * 100_000, 400, "BAD_REQUEST", "nested too deeply"),
    # Fields of the wrong JSON type.
    "no query": post({}, 400, "BAD_REQUEST", "no GraphQL document"),
    "empty query": post({"query": ""}, 400, "BAD_REQUEST", "no GraphQL document"),
    "null query": post({"query": None}, 400, "BAD_REQUEST", "no GraphQL document"),
    "query typo": post({"qeury": "{ __typename }"}, 400, "BAD_REQUEST", "no GraphQL document"),
    "object query": post({"query": {}}, 400, "BAD_REQUEST", "query must be a string"),
    "array query": post({"query": ["{ a }"]}, 400, "BAD_REQUEST", "query must be a string"),
    "number query": post({"query": 0}, 400, "BAD_REQUEST", "query must be a string"),
    "false query": post({"query": False}, 400, "BAD_REQUEST", "query must be a string"),
    "object operationName": post(
        {**TYPENAME, "operationName": {}}, 400, "BAD_REQUEST", "operationName must be a string"
    ),
    "array operationName": post(
        {**TYPENAME, "operationName": []}, 400, "BAD_REQUEST", "operationName must be a string"
    ),
    "number operationName": post(
        {**TYPENAME, "operationName": 1}, 400, "BAD_REQUEST", "operationName must be a string"
    ),
    "array variables": post(
        {**TYPENAME, "variables": []}, 400, "BAD_REQUEST", "variables must be an object"
    ),
    "string variables": post(
        {**TYPENAME, "variables": "{}"}, 400, "BAD_REQUEST", "variables must be an object"
    ),
    "number extensions": post(
        {**TYPENAME, "extensions": 1}, 400, "BAD_REQUEST", "extensions must be an object"
    ),
    # Content types.
    "text/plain": Case(
        "POST", b'{"query": "{ a }"}', "text/plain", 415, "BAD_REQUEST", "text/plain"
    ),
    "no content type": Case("POST", b'{"query": "{ a }"}', None, 415, "BAD_REQUEST", "none"),
    "form": Case(
        "POST",
        b"query=%7Ba%7D",
        "application/x-www-form-urlencoded",
        415,
        "BAD_REQUEST",
        "send the request as application/json",
    ),
    "multipart": Case(
        "POST",
        b"--x--",
        "multipart/form-data; boundary=x",
        415,
        "BAD_REQUEST",
        "multipart/form-data",
    ),
    "latin-1": Case(
        "POST",
        b'{"query": "{ a }"}',
        "application/json; charset=latin-1",
        415,
        "BAD_REQUEST",
        "unsupported charset 'latin-1'",
    ),
    "graphql": Case(
        "POST", b"{ a }", "application/graphql", 415, "BAD_REQUEST", "application/graphql"
    ),
    # GET.
    "GET without query": get({}, 400, "BAD_REQUEST", "no GraphQL document"),
    "GET variables not JSON": get(
        {"query": "{ __typename }", "variables": "{x"}, 400, "BAD_REQUEST", "not valid JSON"
    ),
    "GET variables array": get(
        {"query": "{ __typename }", "variables": "[1]"}, 400, "BAD_REQUEST", "variables must be"
    ),
    "GET extensions string": get(
        {"query": "{ __typename }", "extensions": '"x"'}, 400, "BAD_REQUEST", "extensions must be"
    ),
    "GET mutation": get(
        {"query": "mutation { runEtl { id } }"}, 405, "METHOD_NOT_ALLOWED", "use POST"
    ),
    # Other methods.
    "PUT": Case("PUT", b"{}", "application/json", 405, "METHOD_NOT_ALLOWED", "PUT is not"),
    "DELETE": Case("DELETE", None, None, 405, "METHOD_NOT_ALLOWED", "DELETE is not"),
    "PATCH": Case("PATCH", b"{}", "application/json", 405, "METHOD_NOT_ALLOWED", "PATCH is not"),
}

TWO_OPERATIONS = "mutation M { runEtl { id } } query Q { __typename }"
BEFORE_EXECUTION = {
    # body, code, message (start), has locations
    "parse failure": ({"query": "{ records {"}, "GRAPHQL_PARSE_FAILED", "Syntax Error", True),
    "validation failure": (
        {"query": "{ nope }"},
        "GRAPHQL_VALIDATION_FAILED",
        "Cannot query",
        True,
    ),
    "coercion failure": (
        {"query": "query($n: Int) { records(first: $n) { totalCount } }", "variables": {"n": "x"}},
        "BAD_USER_INPUT",
        "Variable '$n' has invalid value: Int cannot represent",
        True,
    ),
    "several operations, no name": (
        {"query": TWO_OPERATIONS},
        "OPERATION_RESOLUTION_FAILURE",
        "Must provide operation name if query contains multiple operations.",
        False,
    ),
    "unknown operationName": (
        {"query": TWO_OPERATIONS, "operationName": "X"},
        "OPERATION_RESOLUTION_FAILURE",
        "Unknown operation named 'X'.",
        False,
    ),
    "empty operationName": (
        {**TYPENAME, "operationName": ""},
        "OPERATION_RESOLUTION_FAILURE",
        "Unknown operation named ''.",
        False,
    ),
    "unknown persisted query": (
        {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}},
        "PERSISTED_QUERY_NOT_FOUND",
        "PersistedQueryNotFound",
        False,
    ),
}


@pytest.fixture(params=["compiled", "normal"])
def client(request: pytest.FixtureRequest, database_url: str, store: Store) -> Iterator[TestClient]:
    compiled = "true" if request.param == "compiled" else "false"
    config = make_settings(database_url, GRAPHQL_COMPILED=compiled).app_config()
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client


def send(client: TestClient, case: Case, accept: str) -> Any:
    headers = {"accept": accept}
    if case.content_type is not None:
        headers["content-type"] = case.content_type
    return client.request(
        case.method, "/graphql", content=case.body, params=case.params, headers=headers
    )


def only_errors(response: Any) -> list[dict[str, Any]]:
    """The errors of a GraphQL response that has no ``data``, each with message and code."""
    body = response.json()
    assert set(body) == {"errors"}, body
    for error in body["errors"]:
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["extensions"]["code"], str)
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.mark.parametrize("accept", ["application/json", GRAPHQL_RESPONSE, "*/*", ""])
@pytest.mark.parametrize("case", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_request_is_a_4xx_graphql_error(
    client: TestClient, case: Case, accept: str
) -> None:
    response = send(client, case, accept)
    if case.params == {} and accept == "*/*":  # as a browser asks: GraphiQL
        assert response.headers["content-type"].startswith("text/html")
        return
    assert response.status_code == case.status, response.text
    media = GRAPHQL_RESPONSE if accept == GRAPHQL_RESPONSE else "application/json"
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    (error,) = only_errors(response)
    assert error["extensions"]["code"] == case.code
    assert case.says in error["message"]
    if case.status == 405:
        expected = "POST" if case.method == "GET" else "GET, POST"
        assert response.headers["allow"] == expected
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
@pytest.mark.parametrize(
    ("body", "code", "message", "located"), BEFORE_EXECUTION.values(), ids=BEFORE_EXECUTION.keys()
)
def test_an_error_before_execution_has_no_data(
    client: TestClient,
    accept: str,
    status: int,
    body: dict[str, Any],
    code: str,
    message: str,
    located: bool,
) -> None:
    response = client.post("/graphql", json=body, headers={"accept": accept})
    assert response.status_code == status
    assert response.headers["content-type"] == f"{accept}; charset=utf-8"
    (error,) = only_errors(response)
    assert error["extensions"]["code"] == code
    assert error["message"].startswith(message)
    if located:
        (location,) = error["locations"]
        assert location["line"] == 1 and location["column"] >= 1


def test_a_field_error_keeps_data_and_a_200(client: TestClient) -> None:
    for accept in ("application/json", GRAPHQL_RESPONSE):
        response = client.post(
            "/graphql",
            json={"query": '{ a: __typename records(source: ["nope"]) { totalCount } }'},
            headers={"accept": accept},
        )
        assert response.status_code == 200
        body = response.json()
        assert body["data"] is None  # records is non-null: the error reaches the root
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert body["errors"][0]["path"] == ["records"]


def test_two_operations_run_only_the_one_named(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": TWO_OPERATIONS, "operationName": "Q"})
    assert response.json() == {"data": {"__typename": "Query"}}


def test_the_media_type_follows_accept(client: TestClient) -> None:
    cases = {
        GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
        "application/json": "application/json",
        "*/*": "application/json",
        "": "application/json",
        "text/html;q=0.9, application/json": "application/json",
        f"{GRAPHQL_RESPONSE},application/json;q=0.9": GRAPHQL_RESPONSE,
        f"{GRAPHQL_RESPONSE};q=0.5, application/json": "application/json",
        f"application/json;q=0, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,
    }
    for accept, media in cases.items():
        response = client.post("/graphql", json=TYPENAME, headers={"accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{media}; charset=utf-8", accept
        assert response.json() == {"data": {"__typename": "Query"}}


def test_one_poison_request_does_not_disturb_the_next(client: TestClient) -> None:
    for case in MALFORMED.values():
        send(client, case, GRAPHQL_RESPONSE)
    response = client.post("/graphql", json={"query": "{ records(first: 2) { totalCount } }"})
    assert response.status_code == 200
    assert response.json()["data"]["records"]["totalCount"] > 0
