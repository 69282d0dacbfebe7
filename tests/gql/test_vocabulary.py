"""Each concept is declared once: every view lists exactly what the declaration holds.

A run status or a row counter (``db.outcomes``) or a record field (``db.record``) added in
one place reaches GraphQL, REST, the OpenAPI document, the compiled path, the metrics and
the CLI; a view that lists one of its own fails here.
"""

from __future__ import annotations

from typing import Any

from graphql import parse
from starlette.testclient import TestClient

from kasparro import etl_command
from kasparro.db.outcomes import COUNTERS, FINAL_STATUSES, SOURCE_STATUSES, RunStatus, counter_label
from kasparro.db.record import RECORD_FIELDS, RecordRow
from kasparro.db.tables import etl_run_sources
from kasparro.db.telemetry import OUTCOMES
from kasparro.etl_command import EXIT_CODES
from kasparro.gql.compiled.plan import COLUMNS, Leaf, One, Rows, compile_plan
from kasparro.gql.config import AppConfig
from kasparro.gql.schema import build_schema
from kasparro.gql.types import graphql_name
from tests.gql.conftest import graphql
from tests.gql.store import Store

TYPE_FIELDS = """
query($name: String!) {
  __type(name: $name) {
    fields { name type { name ofType { name ofType { name ofType { name } } } } }
    enumValues { name }
  }
}
"""


def introspected(client: TestClient, name: str) -> dict[str, Any]:
    body = graphql(client, TYPE_FIELDS, name=name)
    found: dict[str, Any] = body["data"]["__type"]  # type: ignore[index]
    assert found is not None, name
    return found


def named_type(field: dict[str, Any]) -> str:
    type_ = field["type"]
    while type_["name"] is None:
        type_ = type_["ofType"]
    return str(type_["name"])


def field_types(client: TestClient, name: str) -> dict[str, str]:
    return {field["name"]: named_type(field) for field in introspected(client, name)["fields"]}


def openapi_schemas(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    schemas: dict[str, Any] = response.json()["components"]["schemas"]
    return schemas


def test_run_statuses_are_one_enum_in_graphql(settings_client: TestClient) -> None:
    values = introspected(settings_client, "RunStatus")["enumValues"]
    assert [value["name"] for value in values] == [status.name for status in RunStatus]
    assert field_types(settings_client, "EtlRun")["status"] == "RunStatus"
    assert field_types(settings_client, "SourceRun")["status"] == "RunStatus"


def test_run_statuses_in_openapi_are_the_declared_values(settings_client: TestClient) -> None:
    schemas = openapi_schemas(settings_client)
    run_status = schemas["EtlRun"]["properties"]["status"]["enum"]
    source_status = schemas["SourceRun"]["properties"]["status"]["enum"]
    assert run_status == [status.value for status in RunStatus]
    assert source_status == [status.value for status in SOURCE_STATUSES]
    assert set(source_status) == set(run_status) - {RunStatus.PARTIAL.value}


def test_every_final_status_has_an_exit_code() -> None:
    assert set(EXIT_CODES) == set(FINAL_STATUSES)
    assert EXIT_CODES[RunStatus.SUCCESS] == 0
    assert all(code != 0 for status, code in EXIT_CODES.items() if status != RunStatus.SUCCESS)


def test_row_counters_reach_every_view(settings_client: TestClient) -> None:
    """A counter added to ``db.outcomes.Counters`` shows in each of these, in order."""
    graphql_names = [graphql_name(name) for name in COUNTERS]
    assert list(field_types(settings_client, "RowTotals")) == graphql_names
    source_run = list(field_types(settings_client, "SourceRun"))
    assert [name for name in source_run if name in graphql_names] == graphql_names
    schemas = openapi_schemas(settings_client)
    assert list(schemas["Stats"]["properties"]["rows"]["properties"]) == list(COUNTERS)
    assert [n for n in schemas["SourceRun"]["properties"] if n in COUNTERS] == list(COUNTERS)
    stats = settings_client.get("/stats").json()
    assert stats["rows"] == dict.fromkeys(COUNTERS, 0)
    assert set(COUNTERS) <= set(etl_run_sources.c.keys())
    assert list(OUTCOMES.values()) == list(COUNTERS)
    labels = [counter_label(name) for name in COUNTERS]
    assert list(etl_command.COLUMNS[2:-2]) == labels


def test_record_fields_reach_every_view(client: TestClient, store: Store) -> None:
    """A field added to ``db.record.RecordRow`` shows in REST, OpenAPI, GraphQL and the
    compiled path, in order; only its asset id is GraphQL's ``asset`` object instead (GraphQL
    adds the computed ``id`` too)."""
    declared = [field.name for field in RECORD_FIELDS]
    assert declared == list(RecordRow._fields)
    items = client.get("/data", params={"limit": 3}).json()["data"]
    assert len(items) == 3 and all(list(item) == declared for item in items)
    properties = openapi_schemas(client)["Record"]["properties"]
    assert list(properties) == declared
    shown = [graphql_name(name) for name in declared if name != "asset_id"]
    # Besides the declared columns, GraphQL computes two: the record's id and its asset.
    assert list(field_types(client, "Record")) == [*shown, "id", "asset"]
    assert tuple(declared) == COLUMNS
    selection = " ".join(shown)
    query = f"{{ records(first: 3) {{ nodes {{ {selection} }} }} }}"
    plan = compile_plan(build_schema(AppConfig()), parse(query), None)
    [nodes] = plan.root.parts
    assert isinstance(nodes, One)
    [rows] = nodes.shape.parts
    assert isinstance(rows, Rows)
    assert [part.column for part in rows.shape.parts if isinstance(part, Leaf)] == [
        name for name in declared if name != "asset_id"
    ]
    body = graphql(client, query)
    nodes_json = body["data"]["records"]["nodes"]  # type: ignore[index]
    assert [list(node) for node in nodes_json] == [shown] * 3
