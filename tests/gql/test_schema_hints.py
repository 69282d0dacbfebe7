"""With INTROSPECTION=false, error messages disclose nothing of the schema the client did
not write: no "Did you mean …?", no type, field, argument or enum value named unasked.

Before: "Cannot query field 'recordz' on type 'Query'. Did you mean 'records'?" and
"Field 'records' of type 'RecordConnection!' must have a selection of subfields."
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.hints import HIDDEN, schema_names
from kasparro.gql.schema import build_schema
from tests.conftest import make_settings

TYPOS: list[tuple[str, dict[str, Any] | None, str]] = [
    # (document, variables, what the message must still name)
    ("{ recordz { nodes { source } } }", None, "recordz"),
    ("{ records { nodez { source } } }", None, "nodez"),
    ("{ records { nodes { sourc } } }", None, "sourc"),
    ("{ latestPrices { asset { nam } } }", None, "nam"),
    ("{ records(frist: 1) { nodes { source } } }", None, "frist"),
    ("{ etlRuns(stauts: FAILED) { id } }", None, "stauts"),
    ("{ records(order: DES) { nodes { source } } }", None, "DES"),
    ("{ etlRuns(status: FAILD) { id } }", None, "FAILD"),
    ("query($o: SortOrdr) { records(order: $o) { nodes { source } } }", None, "SortOrdr"),
    ("query($o: SortOrder) { records(order: $o) { nodes { source } } }", {"o": "DES"}, "DES"),
    ("query($s: RunStatus) { etlRuns(status: $s) { id } }", {"s": "SUCCES"}, "SUCCES"),
    ("{ ... on Qeury { health { db } } }", None, "Qeury"),
    ("fragment F on Recrd { source } { records { nodes { ...F } } }", None, "Recrd"),
    ("{ records }", None, "records"),
    ("{ health { db { x } } }", None, "db"),
    ('{ records(first: "ten") { nodes { source } } }', None, "ten"),
    ("query($f: String) { records(first: $f) { nodes { source } } }", None, "$f"),
    ("{ stats { rows { insertd } } }", None, "insertd"),
    ("{ health @inclde(if: true) { db } }", None, "inclde"),
    ("mutation { runEtll { id } }", None, "runEtll"),
]


@pytest.fixture
def closed(database_url: str) -> Iterator[TestClient]:
    config = make_settings(database_url, INTROSPECTION="false").app_config()
    with TestClient(create_app(config)) as client:
        yield client


@pytest.fixture
def open_(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(database_url).app_config())) as client:
        yield client


def messages(client: TestClient, query: str, variables: dict[str, Any] | None) -> list[str]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return [error["message"] for error in response.json()["errors"]]


SCHEMA_NAMES = schema_names(build_schema(make_settings("sqlite://").app_config())._schema)


@pytest.mark.parametrize(("query", "variables", "named"), TYPOS, ids=[t[0] for t in TYPOS])
def test_no_message_names_what_the_client_did_not_write(
    closed: TestClient, query: str, variables: dict[str, Any] | None, named: str
) -> None:
    written = set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", query + str(variables)))
    found = messages(closed, query, variables)
    assert found
    for message in found:
        assert "Did you mean" not in message
        quoted = re.findall(r"'([^']*)'", message)
        names = {name for text in quoted for name in re.findall(r"[_A-Za-z][_0-9A-Za-z]*", text)}
        assert not (names & SCHEMA_NAMES) - written, message
    # Still useful: the mistake itself is named.
    assert any(named in message for message in found), found


def test_the_same_typos_get_hints_when_introspection_is_on(open_: TestClient) -> None:
    found = messages(open_, "{ recordz { nodes { source } } }", None)
    assert found == ["Cannot query field 'recordz' on type 'Query'. Did you mean 'records'?"]
    found = messages(open_, "{ records }", None)
    assert "RecordConnection" in found[0]


def test_what_the_hidden_messages_say(closed: TestClient) -> None:
    assert messages(closed, "{ recordz { nodes { source } } }", None) == [
        f"Cannot query field 'recordz' on type {HIDDEN}."
    ]
    assert messages(closed, "{ records }", None) == [
        f"Field 'records' of type {HIDDEN} must have a selection of subfields."
    ]
    assert messages(closed, "{ records(order: DES) { nodes { source } } }", None) == [
        f"Value 'DES' does not exist in {HIDDEN} enum."
    ]
    # Names the client wrote stay.
    found = messages(
        closed, "query($o: SortOrder) { records(order: $o) { nodes { source } } }", {"o": "DES"}
    )
    assert found == [
        "Variable '$o' has invalid value: Value 'DES' does not exist in 'SortOrder' enum."
    ]
