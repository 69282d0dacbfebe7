"""The client connection deadlines and bound of ``kasparro serve``, declared as settings.

Apart from ``kasparro.connections`` so that reading the settings does not import the web
server.
"""

from __future__ import annotations

from dataclasses import dataclass

from kasparro.etl.declared import Integer, Seconds, setting


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Client connections (`kasparro serve`)."""

    header_timeout: float = setting(
        "CLIENT_HEADER_TIMEOUT_SECONDS",
        10.0,
        Seconds(),
        "a client must send a request's line and headers within this (from connecting, or "
        "from the end of the previous response on a kept-alive connection; bytes arriving do "
        "not extend it); else `408` and the connection closes",
    )
    body_timeout: float = setting(
        "CLIENT_BODY_TIMEOUT_SECONDS",
        30.0,
        Seconds(),
        "a client must send a request's body within this of its headers, else `408`; a "
        "client that reads nothing of a response for this long is disconnected",
    )
    max_connections: int = setting(
        "MAX_CONNECTIONS",
        1000,
        Integer(1),
        "open client connections; past it the connection waiting longest for its headers is "
        "closed, or (every connection busy) the new one gets `503`. Lowered at start when the "
        "file descriptor limit cannot hold it (logged)",
    )
