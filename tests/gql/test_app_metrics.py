"""create_app wires gql.observability: /metrics counts the app's own REST and GraphQL traffic."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.gql.store import Store


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(sample.labels.items()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_metrics_see_rest_and_graphql_requests(client: TestClient, store: Store) -> None:
    assert client.get("/data?limit=1").status_code == 200
    assert client.get("/data?limit=0").status_code == 400
    body = client.post(
        "/graphql", json={"query": "query Page { records(first: 1) { nodes { source } } }"}
    )
    assert body.json()["data"]["records"]["nodes"]
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["x-request-id"]
    http = samples(response.text, "kasparro_http_requests_total")
    assert http[frozenset({("route", "/data"), ("method", "GET"), ("status", "200")})] == 1
    assert http[frozenset({("route", "/data"), ("method", "GET"), ("status", "400")})] == 1
    graphql = samples(response.text, "kasparro_graphql_operations_total")
    key = frozenset({("operation", "Page"), ("type", "query"), ("status", "success")})
    assert graphql[key] == 1
    assert samples(response.text, "kasparro_db_up")[frozenset()] == 1
