"""Clients nobody on the project wrote, against a real `kasparro serve` (both databases):
graphql-http's server audit, Apollo Client (HttpLink, BatchHttpLink, PersistedQueryLink over
POST and GET, relayStylePagination forward and backward, the documented typePolicies) and
graphql-request (with batchRequests, forward and backward).

The npm packages are pinned in tests/gql/clients/package-lock.json; `.ci/run` installs them
with `npm ci`. Without Node or the modules these tests skip, saying so, except under CI
(``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import REPO
from tests.gql.store import Store, load_store
from tests.ops.serving import Served, kasparro_serve, wait_until_serving

CLIENTS = Path(__file__).parent / "clients"
TOKEN = "client-token"
PAGE_SIZE = 7  # as common.mjs
NODE_TIMEOUT_SECONDS = 120


def clients_missing() -> str | None:
    """Why the client checks cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CLIENTS / "node_modules" / "graphql-http").is_dir():
        return f"npm modules missing: run `npm ci` in {CLIENTS}"
    return None


@pytest.fixture
def served(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[Served, Store]]:
    missing = clients_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the client checks: {missing}")
        pytest.skip(missing)
    store = load_store(engine)
    with kasparro_serve(database_url, tmp_path, "clients", ADMIN_TOKEN=TOKEN) as server:
        wait_until_serving(server)
        yield server, store


def run(script: str, served: Served) -> Any:
    """Run ``script`` against ``served``; its one line of JSON."""
    done = subprocess.run(
        ["node", script, served.base_url, TOKEN],
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr}\n{served.log()}"
    return json.loads(done.stdout)


def ascending(store: Store) -> list[list[str]]:
    """Every stored row, as a forward walk in ASC order must see it exactly once."""
    rows = store.newest_first()[::-1]
    return [[row["source"], row["record_id"], row["timestamp"].isoformat()] for row in rows]


def walk_matches(walk: dict[str, Any], store: Store) -> None:
    expected = ascending(store)
    seen = [[*row[:2], row[2].replace("Z", "+00:00")] for row in walk["rows"]]
    assert seen == expected  # each row once, none skipped, in order
    assert walk["pages"] == -(-len(expected) // PAGE_SIZE)


def mutation_checked(report: dict[str, Any]) -> None:
    assert report["anonymous"] == {"codes": ["UNAUTHENTICATED"]}
    run_etl = report["admin"]["data"]["runEtl"]
    assert isinstance(run_etl["id"], int) and run_etl["status"] in ("SUCCESS", "PARTIAL")


def test_the_graphql_http_audit_passes(served: tuple[Served, Store]) -> None:
    results = run("audit.mjs", served[0])["results"]
    assert len(results) >= 60
    failed = [result for result in results if result["status"] != "ok"]
    assert failed == []  # every MUST, SHOULD and MAY


def test_apollo_client(served: tuple[Served, Store]) -> None:
    server, store = served
    report = run("apollo.mjs", server)
    oldest = ascending(store)
    for name, link in report.items():
        assert link["queryType"] == "Query", name
        assert link["types"] > 20
        walk_matches(link["walk"], store)
        assert [len(rows) for rows in link["together"]] == [1, 2, 3]
        assert [row[:2] for row in link["together"][2]] == [row[:2] for row in oldest[:3]]
        mutation_checked(link)
    batches = [request["size"] for request in report["batch"]["seen"] if request["batch"]]
    assert 3 in batches  # the three queries sent at once went as one batch
    assert any(request["hashedOnly"] for request in report["apq"]["seen"])
    hashed_gets = [r for r in report["apqGet"]["seen"] if r["method"] == "GET"]
    assert hashed_gets and all(request["hashedOnly"] for request in hashed_gets)


def test_graphql_request(served: tuple[Served, Store]) -> None:
    server, store = served
    report = run("graphql_request.mjs", server)
    assert report["queryType"] == "Query"
    walk_matches(report["walk"], store)
    assert [len(rows) for rows in report["batch"]] == [1, 2, 3]
    assert report["batchAgain"] == report["batch"]
    assert any(request["batch"] and request["size"] == 3 for request in report["seen"])
    mutation_checked(report)


def test_a_backward_cursor_walk(served: tuple[Served, Store]) -> None:
    """Apollo walks ``records`` forward (``first``/``after``) and backward (``last``/
    ``before``) by ``fetchMore``, relayStylePagination merging every page into one cached
    list; graphql-request walks backward page by page. Each sees every row once."""
    server, store = served
    report = run("walks.mjs", server)
    assert set(report) == {"apolloForward", "apolloBackward", "graphqlRequestBackward"}
    for walk in report.values():
        walk_matches(walk, store)


def test_apollo_normalizes_with_the_documented_type_policies(
    served: tuple[Served, Store],
) -> None:
    """Defect 8 of issue 17: with only README's typePolicies, InMemoryCache stores a record
    (and a latest price) read under two argument sets once, and a second ``stats`` or
    ``health`` query merges into the first one's entry instead of replacing it."""
    server, store = served
    report = run("cache.mjs", server)
    cache = report["cache"]
    assert report["warnings"] == []  # Apollo warns when it must drop cached data
    # The three oldest records, read ASC with first and DESC with last: one entry each,
    # holding the fields both queries selected.
    ascending_ids, descending_ids = report["ids"]
    assert len(ascending_ids) == 3 and descending_ids == ascending_ids[::-1]
    records = {key: entry for key, entry in cache.items() if key.startswith("Record:")}
    assert sorted(records) == sorted(f"Record:{id_}" for id_ in ascending_ids)
    oldest = ascending(store)[:3]
    for (source, _, timestamp), id_ in zip(oldest, ascending_ids, strict=True):
        entry = records[f"Record:{id_}"]
        assert entry["source"] == source and "value" in entry
        assert entry["timestamp"].replace("Z", "+00:00") == timestamp
    bitcoin, every = report["priceIds"]
    assert set(bitcoin) < set(every) and len(every) == len(set(every))
    prices = sorted(key for key in cache if key.startswith("AssetPrice:"))
    assert prices == sorted(f"AssetPrice:{id_}" for id_ in every)
    assert all("value" in cache[f"AssetPrice:{id_}"] for id_ in bitcoin)
    # Stats and Health are singletons: the second query merged into the first.
    assert cache["ROOT_QUERY"]["stats"] == {"__ref": "Stats:{}"}
    fresh = report["fresh"]["stats"]
    assert fresh["recordsTotal"] == len(store.records)
    assert cache["Stats:{}"] == fresh
    assert report["cachedStats"] == report["stats"][0]
    assert cache["Health:{}"]["db"] == "ok" and "database" in cache["Health:{}"]


def test_readme_documents_the_type_policies_the_clients_use() -> None:
    """The Apollo checks build their cache with README's typePolicies, word for word."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Client caches", 1)[1].split("\n### ", 1)[0]
    documented = section.split("typePolicies: {", 1)[1].split("\n});", 1)[0]
    used = (CLIENTS / "common.mjs").read_text(encoding="utf-8")
    assert "".join(documented.split()) in "".join(used.split())
