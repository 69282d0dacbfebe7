"""Each concept is declared once: every view lists exactly what the declaration holds.

A run status (``db.outcomes.RunStatus``) added in one place reaches GraphQL, REST's
OpenAPI document and the CLI's exit codes; a view that lists one of its own fails here.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from db.outcomes import FINAL_STATUSES, SOURCE_STATUSES, RunStatus
from kasparro.etl_command import EXIT_CODES
from tests.gql.conftest import graphql

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
