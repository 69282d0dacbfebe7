"""A small `graphql-transport-ws` client over PyPI's `websockets` (its synchronous API),
and waiting for a served process to hold its subscriptions (read on ``/metrics``)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.support.waiting import wait_until

PROTOCOL = Subprotocol("graphql-transport-ws")


class GraphQLWs:
    """One WebSocket connection to ``/graphql``, initialised with ``payload`` (not at all
    when ``payload`` is None)."""

    def __init__(self, base_url: str, payload: dict[str, Any] | None) -> None:
        url = base_url.replace("http://", "ws://") + "/graphql"
        self.ws: ClientConnection = connect(
            url, subprotocols=[PROTOCOL], open_timeout=10
        ).__enter__()  # closed by close()
        if payload is not None:
            self.send({"type": "connection_init", "payload": payload})

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(json.dumps(message))

    def receive(self, timeout: float = 10.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return message

    def acknowledged(self) -> None:
        assert self.receive() == {"type": "connection_ack"}

    def subscribe(self, op_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        self.send({"id": op_id, "type": "subscribe", "payload": payload})

    def results(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The next ``count`` messages (each must be a ``next``), their payloads."""
        found = []
        for _ in range(count):
            message = self.receive(timeout)
            assert message["type"] == "next", message
            found.append(message["payload"])
        return found

    def quiet(self, seconds: float) -> None:
        """Assert that nothing arrives for ``seconds``."""
        try:
            message = self.ws.recv(timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message: {message!r}")

    def close_code(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Read until the server closes the socket; its close code and reason."""
        try:
            while True:
                self.ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return (received.code, received.reason) if received else (None, "")

    def close(self) -> None:
        self.ws.close()

    def __enter__(self) -> GraphQLWs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def subscriptions_held(base_url: str) -> int:
    """``kasparro_subscriptions`` summed over fields, from the process's ``/metrics``."""
    text = httpx.get(base_url + "/metrics", timeout=10).text
    return sum(
        int(float(value))
        for value in re.findall(r"^kasparro_subscriptions\{[^}]*\} (\S+)$", text, re.M)
    )


def wait_for_subscriptions(base_url: str, count: int, timeout: float = 20.0) -> None:
    """Wait until the process at ``base_url`` holds at least ``count`` subscriptions."""
    wait_until(
        lambda: subscriptions_held(base_url) >= count,
        timeout,
        f"{count} subscriptions held by {base_url}",
    )
