"""Clients nobody on the project wrote, against a real `kasparro serve` (both databases):
graphql-http's server audit, Apollo Client (HttpLink, BatchHttpLink, PersistedQueryLink over
POST and GET, relayStylePagination forward and backward, the documented typePolicies),
graphql-request (with batchRequests, forward and backward) and PyPI's Python `gql` client.

The npm packages are pinned in tests/gql/clients/package-lock.json; `.ci/run` installs them
with `npm ci`, and PyPI's `gql` with the test extra. Without Node, the modules or `gql` these
tests skip, saying so, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
CLIENT_TIMEOUT_SECONDS = 120


def clients_missing() -> str | None:
    """Why the client checks cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CLIENTS / "node_modules" / "graphql-http").is_dir():
        return f"npm modules missing: run `npm ci` in {CLIENTS}"
    return None


def skip_unless_ci(missing: str | None) -> None:
    """Skip, saying why, when a client cannot run here; under CI, fail instead."""
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs the client checks: {missing}")
        pytest.skip(missing)


@pytest.fixture
def serving(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[Served, Store]]:
    """The store loaded and `kasparro serve` on it, with the admin token set."""
    store = load_store(engine)
    with kasparro_serve(database_url, tmp_path, "clients", ADMIN_TOKEN=TOKEN) as server:
        wait_until_serving(server)
        yield server, store


@pytest.fixture
def served(serving: tuple[Served, Store]) -> tuple[Served, Store]:
    """``serving``, for the Node clients."""
    skip_unless_ci(clients_missing())
    return serving


def run(script: str, served: Served) -> Any:
    """Run the Node ``script`` against ``served``; its one line of JSON."""
    return run_client(["node", script], served, CLIENTS)


def run_client(
    command: list[str], served: Served, cwd: Path, env: dict[str, str] | None = None
) -> Any:
    """Run ``command`` with the base URL and the admin token; its one line of JSON."""
    done = subprocess.run(
        [*command, served.base_url, TOKEN],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
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


@pytest.mark.slow
def test_the_graphql_http_audit_passes(served: tuple[Served, Store]) -> None:
    results = run("audit.mjs", served[0])["results"]
    assert len(results) >= 60
    failed = [result for result in results if result["status"] != "ok"]
    assert failed == []  # every MUST, SHOULD and MAY


@pytest.mark.slow
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


@pytest.mark.slow
def test_graphql_request(served: tuple[Served, Store]) -> None:
    server, store = served
    report = run("graphql_request.mjs", server)
    assert report["queryType"] == "Query"
    walk_matches(report["walk"], store)
    assert [len(rows) for rows in report["batch"]] == [1, 2, 3]
    assert report["batchAgain"] == report["batch"]
    assert any(request["batch"] and request["size"] == 3 for request in report["seen"])
    mutation_checked(report)


@pytest.mark.slow
def test_a_backward_cursor_walk(served: tuple[Served, Store]) -> None:
    """Apollo walks ``records`` forward (``first``/``after``) and backward (``last``/
    ``before``) by ``fetchMore``, relayStylePagination merging every page into one cached
    list; graphql-request walks backward page by page. Each sees every row once."""
    server, store = served
    report = run("walks.mjs", server)
    assert set(report) == {"apolloForward", "apolloBackward", "graphqlRequestBackward"}
    for walk in report.values():
        walk_matches(walk, store)


@pytest.mark.slow
def test_apollo_normalizes_with_the_documented_type_policies(
    served: tuple[Served, Store],
) -> None:
    """Defect 8 of issue 17: with only the typePolicies docs/api.md documents, InMemoryCache
    stores a record (and a latest price) read under two argument sets once, and a second
    ``stats`` or ``health`` query merges into the first one's entry instead of replacing it."""
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
    """The Apollo checks build their cache with docs/api.md's typePolicies, word for word."""
    readme = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    section = readme.split("### Client caches", 1)[1].split("\n### ", 1)[0]
    documented = section.split("typePolicies: {", 1)[1].split("\n});", 1)[0]
    used = (CLIENTS / "common.mjs").read_text(encoding="utf-8")
    assert "".join(documented.split()) in "".join(used.split())


@pytest.mark.slow
def test_the_python_gql_client(serving: tuple[Served, Store], tmp_path: Path) -> None:
    """PyPI's ``gql`` client (HTTPX transport): introspection (it fetches the schema and
    validates every document against it), variables, a fragment, a full forward and backward
    cursor walk, the mutation without and with the token.

    The repository's top-level ``gql/`` folder shadows PyPI's ``gql`` wherever the repository
    root is on ``sys.path``, as pytest puts it; so the client runs in a subprocess, with
    ``python -P`` (no script directory on the path) from a temporary directory and without
    PYTHONPATH, and the test checks which ``gql`` it imported."""
    installed = (Path(entry) / "gql" / "transport" / "httpx.py" for entry in sys.path)
    if not any(path.is_file() for path in installed):
        skip_unless_ci("PyPI's gql is not installed: pip install -e '.[test]'")
    server, store = serving
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [sys.executable, "-P", str(CLIENTS / "python_gql.py")]
    report = run_client(command, server, tmp_path, environment)
    imported = Path(report["gql"])
    assert imported.parts[-3:] == ("site-packages", "gql", "__init__.py"), imported
    assert report["queryType"] == "Query" and report["types"] > 20
    walk_matches(report["forward"], store)
    walk_matches(report["backward"], store)
    mutation_checked(report)
