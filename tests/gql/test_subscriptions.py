"""GraphQL subscriptions against a real `kasparro serve` (both databases), with real
clients: PyPI's `websockets` (tests/support/graphql_ws.py), npm's `graphql-ws` and Apollo
Client's `GraphQLWsLink` (tests/gql/clients/live.mjs). The change feed delivers exactly what
a committed load changed, filtered as asked, to every serving process; run events from
started to finished; the token, the limits and the refusals; on PostgreSQL, a lost
`LISTEN` connection that reconnects without missing the change.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from kasparro.db.engine import create_db_engine
from kasparro.etl.pipeline import run_etl
from kasparro.gql.feed import LISTENER_NAME
from kasparro.settings import Settings
from tests.conftest import ON_POSTGRESQL, make_settings
from tests.gql.test_clients import CLIENT_TIMEOUT_SECONDS, CLIENTS, clients_missing, skip_unless_ci
from tests.ops.serving import BASE_ENV, Served, kasparro_serve, synthetic_csv
from tests.support.graphql_ws import PROTOCOL, GraphQLWs, wait_for_subscriptions
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

TOKEN = "live-token"
PRICES = (
    "subscription Prices($asset: [String!], $symbol: [String!], $source: [String!]) {"
    " priceChanges(asset: $asset, symbol: $symbol, source: $source) {"
    " id asset { id symbol } source recordId value timestamp } }"
)
RUNS = (
    "subscription Runs($runId: Int) { etlRunEvents(runId: $runId) {"
    " id status sources { source status rowsRead inserted } } }"
)
RUNS_WITH_REJECTS = (
    "subscription { etlRunEvents { id status sources {"
    " source status rowsRead rejected rejects(first: 100) { reason } } } }"
)
HEADER = "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
FIRST = [
    "BTC,Bitcoin,60000.5,1,1,2024-06-01T00:00:00Z",
    "ETH,Ethereum,3000.25,1,1,2024-06-01T00:00:00Z",
    "ADA,Cardano,0.45,1,1,2024-06-01T00:00:00Z",
]
SECOND = [
    *FIRST,
    "BTC,Bitcoin,61000.75,1,1,2024-06-01T01:00:00Z",
    "ETH,Ethereum,3100.5,1,1,2024-06-01T01:00:00Z",
    "ADA,Cardano,0.45,1,1,2024-06-01T00:00:00Z",  # the same row again: no change
]


@dataclass
class Live:
    """A served store loaded with FIRST, and how to load more into it."""

    server: Served
    engine: Engine
    settings: Settings
    csv: Path

    def load(self, rows: list[str]) -> None:
        """Write ``rows`` as the CSV and run the ETL in this process (the server's own
        ETL is off): the server learns of it only through the store."""
        _load(self.engine, self.settings, self.csv, rows)

    def connect(self, payload: dict[str, Any] | None = None) -> GraphQLWs:
        client = GraphQLWs(self.server.base_url, {"token": TOKEN} if payload is None else payload)
        client.acknowledged()
        return client


def _load(engine: Engine, settings: Settings, csv: Path, rows: list[str]) -> None:
    csv.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    summary = run_etl(engine, settings.etl_config())
    assert summary.status.value == "success", summary


def _live(database_url: str, tmp_path: Path, **env: str) -> Iterator[Live]:
    csv = tmp_path / "prices.csv"
    settings = make_settings(database_url, CSV_PATH=str(csv), ETL_SOURCES="csv")
    engine = create_db_engine(database_url)
    try:
        _load(engine, settings, csv, FIRST)
        served = {"SUBSCRIPTION_TOKEN": TOKEN, "CSV_PATH": str(csv), "ETL_SOURCES": "csv", **env}
        with kasparro_serve(database_url, tmp_path, "live", **served) as server:
            yield Live(server, engine, settings, csv)
    finally:
        engine.dispose()


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[Live]:
    yield from _live(database_url, tmp_path)


def _prices(payloads: list[dict[str, Any]]) -> set[tuple[str, str, float]]:
    found = set()
    for payload in payloads:
        assert "errors" not in payload, payload
        price = payload["data"]["priceChanges"]
        found.add((price["asset"]["id"], price["source"], price["value"]))
    return found


def test_a_load_that_changes_two_prices_sends_exactly_those_two(live: Live) -> None:
    subscriptions = {
        "all": {},
        "btc by symbol": {"symbol": ["btc"]},
        "eth by asset": {"asset": ["ethereum"]},
        "csv by source": {"source": ["csv"]},
        "csv2 by source": {"source": ["csv2"]},
        "ada": {"asset": ["cardano"]},
    }
    clients = {name: live.connect() for name in subscriptions}
    try:
        for name, variables in subscriptions.items():
            clients[name].subscribe("1", PRICES, variables)
        wait_for_subscriptions(live.server.base_url, len(subscriptions))
        live.load(SECOND)
        both = {("bitcoin", "csv", 61000.75), ("ethereum", "csv", 3100.5)}
        assert _prices(clients["all"].results(2)) == both
        assert _prices(clients["csv by source"].results(2)) == both
        assert _prices(clients["btc by symbol"].results(1)) == {("bitcoin", "csv", 61000.75)}
        assert _prices(clients["eth by asset"].results(1)) == {("ethereum", "csv", 3100.5)}
        for name in ("all", "csv2 by source", "ada"):
            clients[name].quiet(1.0)  # exactly those: nothing more, nothing for the others
    finally:
        for client in clients.values():
            client.close()


def test_run_events_until_the_run_finished(live: Live) -> None:
    with live.connect() as client:
        client.subscribe("runs", RUNS)
        wait_for_subscriptions(live.server.base_url, 1)
        live.load(SECOND)
        events = _until_finished(client)
    # A run this short may start and end between two readings (SQLite reads every 250 ms):
    # then its finished state is all there is to send. The 100k-row run below shows more.
    assert {event["id"] for event in events} == {events[0]["id"]}
    assert [event["status"] for event in events[:-1]] == ["RUNNING"] * (len(events) - 1)
    assert events[-1]["status"] == "SUCCESS"
    # The file grew: the reader resumes after the rows it read before.
    assert events[-1]["sources"] == [
        {"source": "csv", "status": "SUCCESS", "rowsRead": 3, "inserted": 2}
    ]


def _until_finished(client: GraphQLWs) -> list[dict[str, Any]]:
    """The run events up to the first that is not RUNNING."""
    events: list[dict[str, Any]] = []
    while not events or events[-1]["status"] == "RUNNING":
        (payload,) = client.results(1, timeout=60)
        assert "errors" not in payload, payload
        events.append(payload["data"]["etlRunEvents"])
    return events


def test_run_events_show_progress_of_a_100k_row_run(database_url: str, tmp_path: Path) -> None:
    for live in _live(database_url, tmp_path, SUBSCRIPTION_PROGRESS_SECONDS="0.5"):
        big = synthetic_csv(tmp_path / "big.csv", 100_000)
        head, _, rest = big.read_text(encoding="utf-8").partition("\n")
        bad = [f"BAD{i},Bad,not-a-number,1,1,2024-06-01T00:00:00Z" for i in range(5)]
        big.write_text("\n".join([head, *bad, rest]), encoding="utf-8")
        settings = make_settings(database_url, CSV_PATH=str(big), ETL_SOURCES="csv")
        with live.connect() as client:
            client.subscribe("runs", RUNS_WITH_REJECTS)
            wait_for_subscriptions(live.server.base_url, 1)
            summary = run_etl(live.engine, settings.etl_config())
            assert summary.status.value == "success", summary
            events = _until_finished(client)
        assert events[0]["status"] == "RUNNING"
        assert events[-1]["status"] == "SUCCESS"
        assert events[-1]["sources"][0]["rowsRead"] == 100_005
        # Each event is read afresh: the last lists the rejects stored by then, though
        # earlier events of the same source run listed none yet.
        assert events[-1]["sources"][0]["rejected"] == 5
        assert len(events[-1]["sources"][0]["rejects"]) == 5, events[-1]
        progress = [
            event["sources"][0]["rowsRead"]
            for event in events
            if event["sources"] and event["sources"][0]["status"] == "RUNNING"
        ]
        assert any(0 < rows < 100_005 for rows in progress), events
        assert progress == sorted(progress)


def test_the_token_is_checked_in_connection_init(live: Live) -> None:
    for payload in ({}, {"token": "wrong"}, {"token": 7}):
        client = GraphQLWs(live.server.base_url, payload)
        assert client.close_code() == (4403, "Forbidden")
    with live.connect({"token": TOKEN}) as client:
        client.subscribe("1", "subscription { etlRunEvents { id } }")
        wait_for_subscriptions(live.server.base_url, 1)


def test_refusals_are_clear_errors(live: Live) -> None:
    with live.connect() as client:
        client.subscribe("bad source", PRICES, {"source": ["nowhere"]})
        (payload,) = client.results(1)
        assert payload["data"] is None
        (error,) = payload["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert "unknown source 'nowhere'" in error["message"]
        assert client.receive() == {"id": "bad source", "type": "complete"}

        client.subscribe("unknown field", "subscription { priceChanges { nonsense } }")
        message = client.receive()
        assert message["type"] == "error", message
        assert "Cannot query field 'nonsense'" in message["payload"][0]["message"]

        client.subscribe("too many values", PRICES, {"symbol": ["x"] * 2000})
        message = client.receive()
        assert message["type"] == "error", message
        assert message["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
        assert "MAX_VARIABLE_VALUES" in message["payload"][0]["message"]

        client.subscribe("fine", "subscription { etlRunEvents { id sources { source } } }")
        client.quiet(0.5)

    with live.connect() as client:
        client.subscribe("huge", PRICES, {"symbol": ["y" * 4000] * 300})  # 1.2 MB
        assert client.close_code()[0] == 1009  # MAX_REQUEST_BYTES: message too big


MALFORMED = [
    "not json",
    '{"lone": "\\ud800"}',
    "5",
    "[]",
    "null",
    '{"type": "subscribe", "id": "1", "payload": "x"}',
    '{"type": "subscribe", "id": ["1"], "payload": {"query": "{ a }"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": "x"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "variables": [1]}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": "{ a }", "operationName": 5}}',
]


def test_a_malformed_message_closes_the_socket_with_4400(live: Live) -> None:
    for raw in MALFORMED:
        with live.connect() as client:
            client.ws.send(raw)
            code, reason = client.close_code()
            assert code == 4400, (raw, code, reason)
    errors = [line for line in live.server.log_lines() if line["level"] == "error"]
    assert errors == []
    assert httpx.get(live.server.base_url + "/health").status_code == 200


def test_a_websocket_from_another_origin_needs_it_in_cors_origins(
    database_url: str, tmp_path: Path
) -> None:
    allowed = "https://app.example"
    for live in _live(database_url, tmp_path, CORS_ORIGINS=allowed):
        url = live.server.base_url.replace("http://", "ws://") + "/graphql"
        for origin, accepted in ((allowed, True), ("https://evil.example", False)):
            try:
                with connect(url, subprotocols=[PROTOCOL], origin=Origin(origin)):
                    opened = True
            except InvalidStatus as refused:
                assert refused.response.status_code == 403
                opened = False
            assert opened is accepted, origin


def test_a_subscription_over_max_query_cost_is_refused(database_url: str, tmp_path: Path) -> None:
    for live in _live(database_url, tmp_path, MAX_QUERY_COST="100"):
        with live.connect() as client:
            client.subscribe("costly", RUNS_WITH_REJECTS)  # 4 sources x 100 rejects
            (payload,) = client.results(1)
            (error,) = payload["errors"]
            assert error["extensions"]["code"] == "QUERY_TOO_COSTLY", payload
            assert "MAX_QUERY_COST" in error["message"]
            assert client.receive() == {"id": "costly", "type": "complete"}
            client.subscribe("cheap", RUNS)
            wait_for_subscriptions(live.server.base_url, 1)


def test_limits_per_connection_and_per_process(database_url: str, tmp_path: Path) -> None:
    for live in _live(
        database_url,
        tmp_path,
        SUBSCRIPTION_MAX_PER_CONNECTION="2",
        SUBSCRIPTION_MAX_PER_PROCESS="3",
        SUBSCRIPTION_INIT_TIMEOUT_SECONDS="1",
    ):
        first, second = live.connect(), live.connect()
        try:
            first.subscribe("1", PRICES)
            first.subscribe("2", PRICES)
            first.subscribe("3", PRICES)
            message = first.receive()
            assert message == {
                "id": "3",
                "type": "error",
                "payload": [{"message": "Subscription limit reached"}],
            }
            wait_for_subscriptions(live.server.base_url, 2)
            second.subscribe("1", RUNS)
            wait_for_subscriptions(live.server.base_url, 3)
            second.subscribe("2", RUNS)
            (payload,) = second.results(1)
            (error,) = payload["errors"]
            assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
            assert "SUBSCRIPTION_MAX_PER_PROCESS" in error["message"]
        finally:
            first.close()
            second.close()
        silent = GraphQLWs(live.server.base_url, None)  # never sends connection_init
        assert silent.close_code() == (4408, "Connection initialisation timeout")


def test_two_servers_hear_a_load_run_by_a_third_process(database_url: str, tmp_path: Path) -> None:
    for live in _live(database_url, tmp_path):
        served = {"SUBSCRIPTION_TOKEN": TOKEN, "CSV_PATH": str(live.csv), "ETL_SOURCES": "csv"}
        with kasparro_serve(database_url, tmp_path, "other", **served) as other:
            clients = [live.connect(), GraphQLWs(other.base_url, {"token": TOKEN})]
            clients[1].acknowledged()
            try:
                for client in clients:
                    client.subscribe("1", PRICES)
                wait_for_subscriptions(live.server.base_url, 1)
                wait_for_subscriptions(other.base_url, 1)
                live.csv.write_text(HEADER + "\n".join(SECOND) + "\n", encoding="utf-8")
                _kasparro_etl(database_url, live.csv)
                both = {("bitcoin", "csv", 61000.75), ("ethereum", "csv", 3100.5)}
                for client in clients:
                    assert _prices(client.results(2)) == both
            finally:
                for client in clients:
                    client.close()


def test_graphql_ws_and_apollo_clients(live: Live) -> None:
    skip_unless_ci(clients_missing())
    command = ["node", "live.mjs", live.server.base_url, TOKEN, "2"]
    node = subprocess.Popen(command, cwd=CLIENTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_subscriptions(live.server.base_url, 3)
        live.load(SECOND)
        out, err = node.communicate(timeout=CLIENT_TIMEOUT_SECONDS)
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert node.returncode == 0, err.decode() + live.server.log()
    report = json.loads(out)
    assert report["rejection"] == {"code": 4403, "reason": "Forbidden"}
    both = {("bitcoin", 61000.75), ("ethereum", 3100.5)}
    for name in ("graphqlWs", "apollo"):
        assert {(p["asset"]["id"], p["value"]) for p in report[name]} == both, name
    assert [p["asset"]["symbol"] for p in report["graphqlWsBtc"]] == ["BTC"]


def _kasparro_etl(database_url: str, csv: Path) -> None:
    """`kasparro etl` as a process of its own."""
    env = {**os.environ, **BASE_ENV, "DATABASE_URL": database_url, "CSV_PATH": str(csv)}
    env["ETL_SOURCES"] = "csv"
    done = subprocess.run(
        [sys.executable, "-m", "kasparro.cli", "etl"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the LISTEN connection is PostgreSQL's")
def test_a_lost_listener_reconnects_and_misses_no_change(live: Live) -> None:
    with live.connect() as client:
        client.subscribe("1", PRICES)
        wait_for_subscriptions(live.server.base_url, 1)
        with live.engine.begin() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": LISTENER_NAME},
            ).all()
        assert len(killed) == 1
        live.load(SECOND)  # commits while the listener is away, or just back
        both = {("bitcoin", "csv", 61000.75), ("ethereum", "csv", 3100.5)}
        assert _prices(client.results(2)) == both
        wait_until(
            lambda: "change listener connected again" in live.server.log(),
            20,
            live.server.log,
        )


def test_sigterm_closes_subscriptions_with_going_away(live: Live) -> None:
    with live.connect() as client:
        client.subscribe("1", PRICES)
        wait_for_subscriptions(live.server.base_url, 1)
        live.server.process.send_signal(signal.SIGTERM)
        assert client.close_code() == (1001, "")
    assert live.server.terminate() < 10  # the shutdown completed, within the grace
