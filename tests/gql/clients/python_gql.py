"""PyPI's `gql` client (HTTPX transport) against a served app:
``python -P python_gql.py <base URL> <admin token>``, from outside the repository.

The repository's top-level ``gql/`` folder would shadow PyPI's ``gql`` on a path that holds
the repository root, so this runs with ``-P`` from a temporary directory; it reports the file
it imported ``gql`` from. Introspection (the client fetches the schema and validates each
document against it), variables, a fragment, a full forward and a full backward cursor walk,
and the mutation without and with the token. Prints one line of JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gql
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

PAGE_SIZE = 7  # as common.mjs
TIMEOUT_SECONDS = 30
ROW = "fragment Row on Record { id source recordId timestamp value asset { id } }"
# size argument, cursor argument, the flag that says more rows follow, the cursor to go on from
WALKS = {
    "forward": ("first", "after", "hasNextPage", "endCursor"),
    "backward": ("last", "before", "hasPreviousPage", "startCursor"),
}
RUN_ETL = 'mutation Run { runEtl(sources: ["csv"]) { id status } }'


def page_query(size: str, start: str, more: str, cursor: str) -> str:
    return f"""
      query Page(${size}: Int, ${start}: String) {{
        records({size}: ${size}, {start}: ${start}, order: ASC) {{
          edges {{ cursor node {{ ...Row }} }}
          pageInfo {{ {more} {cursor} }}
        }}
      }}
      {ROW}
    """


def walk(session: Any, direction: str) -> dict[str, Any]:
    """Every row, oldest first, following the cursors ``direction``'s way to the end."""
    size, start, more, cursor = WALKS[direction]
    query = gql.gql(page_query(size, start, more, cursor))
    walked: list[list[str]] = []
    variables: dict[str, Any] = {size: PAGE_SIZE}
    pages = 0
    while True:
        records = session.execute(GraphQLRequest(query, variable_values=variables))["records"]
        pages += 1
        got = [
            [e["node"]["source"], e["node"]["recordId"], e["node"]["timestamp"]]
            for e in records["edges"]
        ]
        walked = walked + got if direction == "forward" else got + walked
        if not records["pageInfo"][more]:
            return {"pages": pages, "rows": walked}
        variables = {size: PAGE_SIZE, start: records["pageInfo"][cursor]}
        if pages > 1000:
            raise RuntimeError("the walk does not end")


def mutation(url: str, headers: dict[str, str]) -> dict[str, Any]:
    with connect(url, headers) as session:
        try:
            return {"data": session.execute(gql.gql(RUN_ETL))}
        except TransportQueryError as error:
            return {"codes": [e.get("extensions", {}).get("code") for e in error.errors or []]}


def connect(url: str, headers: dict[str, str] | None = None) -> Client:
    transport = HTTPXTransport(url=url, headers=headers, timeout=TIMEOUT_SECONDS)
    return Client(transport=transport, fetch_schema_from_transport=True)


def main(base: str, token: str) -> None:
    url = f"{base}/graphql"
    client = connect(url)
    with client as session:
        schema = client.schema  # fetched by introspection on connecting
        assert schema is not None and schema.query_type is not None
        report: dict[str, Any] = {
            "gql": gql.__file__,
            "queryType": schema.query_type.name,
            "types": len(schema.type_map),
            "forward": walk(session, "forward"),
            "backward": walk(session, "backward"),
        }
    # The mutations last: the ETL they run adds rows the walks above must not see.
    report["anonymous"] = mutation(url, {})
    report["admin"] = mutation(url, {"authorization": f"Bearer {token}"})
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:3])
