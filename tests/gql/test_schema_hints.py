"""With INTROSPECTION=false, error messages disclose nothing of the schema the client did
not write: no "Did you mean …?", no type, field, argument or enum value named unasked.

Before: "Cannot query field 'recordz' on type 'Query'. Did you mean 'records'?" and
"Field 'records' of type 'RecordConnection!' must have a selection of subfields."; and,
after that was fixed, still the types of arguments given a wrong value ("Int cannot
represent non-integer value: 1.5", "Value cannot represent a DateTime: …", "Variable '$v'
of type 'Int' used in position expecting type 'DateTime'."). The generated cases below
(hypothesis, over the schema's fields, arguments and types) hold every message to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLOutputType, get_named_type, is_composite_type, is_object_type
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


SCHEMA = build_schema(make_settings("sqlite://").app_config())._schema
SCHEMA_NAMES = schema_names(SCHEMA)
WORD = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def leaks(message: str, query: str, variables: object) -> set[str]:
    """Schema names in ``message`` the client did not write: quoted ones of any kind, and
    type names anywhere."""
    written = set(WORD.findall(query + json.dumps(variables)))
    quoted = {name for text in re.findall(r"'([^']*)'", message) for name in WORD.findall(text)}
    words = set(WORD.findall(message))
    return ((quoted & SCHEMA_NAMES.all) | (words & SCHEMA_NAMES.types)) - written


@pytest.mark.parametrize(("query", "variables", "named"), TYPOS, ids=[t[0] for t in TYPOS])
def test_no_message_names_what_the_client_did_not_write(
    closed: TestClient, query: str, variables: dict[str, Any] | None, named: str
) -> None:
    found = messages(closed, query, variables)
    assert found
    for message in found:
        assert "Did you mean" not in message
        assert not leaks(message, query, variables), message
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


def test_wrong_values_do_not_name_the_argument_type(closed: TestClient) -> None:
    assert messages(closed, "{ records(first: 1.5) { nodes { source } } }", None) == [
        f"{HIDDEN} cannot represent non-integer value: 1.5"
    ]
    assert messages(closed, '{ records(since: "garbage") { nodes { source } } }', None) == [
        f"Value cannot represent a {HIDDEN}: \"garbage\". Expected 4 digits, got 'garb'"
    ]
    assert messages(closed, "query($v: Int) { records(since: $v) { nodes { source } } }", {}) == [
        f"Variable '$v' of type 'Int' used in position expecting type {HIDDEN}."
    ]
    assert messages(closed, "{ records(source: [null]) { nodes { source } } }", None) == [
        f"Expected value of non-null type {HIDDEN} not to be None."
    ]


# Generated cases: a root field of the schema used wrongly in one of several ways.

LITERALS = ["1", "-7", "1.5", '"x"', '"2021-13-45T99:00:00"', "true", "NOPE", "DESC", "[1]"]
LITERALS += ["[null]", '["a", 2]', "{a: 1}", "null", '""']
VALUES: list[Any] = [1, 1.5, "x", "", True, None, [1], ["a"], [None], {"a": 1}, "DESC", "2021"]
DECLARED = ["String", "String!", "[String!]", "Int", "Int!", "Float", "Boolean", "ID"]
DECLARED += ["DateTime", "SortOrder", "RunStatus", "[Int]", "Nope"]


def selection(type_: GraphQLOutputType) -> str:
    return " { __typename }" if is_composite_type(get_named_type(type_)) else ""


def typo(draw: st.DrawFn, name: str) -> str:
    at = draw(st.integers(0, len(name)))
    change = draw(st.sampled_from(["insert", "delete", "swap", "case"]))
    if change == "insert":
        return name[:at] + draw(st.sampled_from("aexz_")) + name[at:]
    if change == "delete" and len(name) > 1:
        return name[: min(at, len(name) - 1)] + name[min(at, len(name) - 1) + 1 :]
    if change == "swap" and len(name) > 2:
        at = min(at, len(name) - 2)
        return name[:at] + name[at + 1] + name[at] + name[at + 2 :]
    return name.swapcase()


@st.composite
def misuse(draw: st.DrawFn) -> tuple[str, dict[str, Any] | None]:
    """A document (and variables) using a field of the schema wrongly."""
    root = draw(st.sampled_from([SCHEMA.query_type, SCHEMA.mutation_type]))
    assert root is not None
    keyword = "mutation" if root is SCHEMA.mutation_type else "query"
    name, field = draw(st.sampled_from(sorted(root.fields.items())))
    below = selection(field.type)
    arguments = sorted(field.args.items())
    way = draw(
        st.sampled_from(
            ["literal", "declared", "value", "field", "argument", "fragment", "selection"]
        )
    )
    if way in ("literal", "declared", "value", "argument") and not arguments:
        way = "field"
    if way == "literal":
        argument, _ = draw(st.sampled_from(arguments))
        return f"{keyword} {{ {name}({argument}: {draw(st.sampled_from(LITERALS))}){below} }}", None
    if way == "declared":
        argument, _ = draw(st.sampled_from(arguments))
        declared = draw(st.sampled_from(DECLARED))
        return f"{keyword}($v: {declared}) {{ {name}({argument}: $v){below} }}", {}
    if way == "value":
        argument, definition = draw(st.sampled_from(arguments))
        value = draw(st.sampled_from(VALUES))
        return f"{keyword}($v: {definition.type}) {{ {name}({argument}: $v){below} }}", {"v": value}
    if way == "argument":
        argument, _ = draw(st.sampled_from(arguments))
        return f"{keyword} {{ {name}({typo(draw, argument)}: 1){below} }}", None
    named = get_named_type(field.type)
    if way == "field" or not is_composite_type(named):
        if is_object_type(named) and draw(st.booleans()):
            inner = draw(st.sampled_from(sorted(named.fields)))
            return f"{keyword} {{ {name} {{ {typo(draw, inner)} }} }}", None
        return f"{keyword} {{ {typo(draw, name)}{below} }}", None
    if way == "fragment":
        condition = draw(
            st.sampled_from([*sorted(SCHEMA_NAMES.types), "Nope", typo(draw, named.name)])
        )
        spread = f"... on {condition} {{ __typename }}"
        if draw(st.booleans()):
            return (
                f"{keyword} {{ {name} {{ ...F }} }} fragment F on {condition} {{ __typename }}",
                None,
            )
        return f"{keyword} {{ {name} {{ {spread} }} }}", None
    # "selection": an object without a selection, or a leaf field with one.
    if is_object_type(named) and draw(st.booleans()):
        leaf = [key for key, inner in named.fields.items() if not selection(inner.type)]
        if leaf:
            return (
                f"{keyword} {{ {name} {{ {draw(st.sampled_from(sorted(leaf)))} {{ x }} }} }}",
                None,
            )
    return f"{keyword} {{ {name} }}", None


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=misuse())
def test_generated_mistakes_name_nothing_unwritten(
    closed: TestClient, case: tuple[str, dict[str, Any] | None]
) -> None:
    query, variables = case
    response = closed.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    for error in response.json().get("errors") or []:
        message = error["message"]
        assert "Did you mean" not in message, (query, message)
        assert not leaks(message, query, variables), (query, variables, message)
