"""Streaming exports of records: ``GET /data.csv``, ``GET /data.ndjson``, and ``GET /data``
with ``Accept: text/csv`` or ``application/x-ndjson``; ``kasparro export`` from the CLI.

An export takes every ``/data`` parameter but ``limit`` and reads the whole result as
``/data`` pages of EXPORT_BATCH_ROWS rows, one keyset query each, in a worker thread with
its own connection (``gql.rest.records_json``, the very function ``/data`` answers with),
so it is the concatenation of ``/data``'s pages by construction and holds one batch at a
time whatever its size. When the client goes away, the response stops (Starlette cancels
it, or the next write fails) and no further batch is read. Exports are compressed with
gzip when the client accepts it. Formats are a registry (``FORMATS``): a media type, a
head and how a batch is written.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, NamedTuple

from sqlalchemy import Connection
from starlette.datastructures import Headers
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from kasparro.db.queries import Keyset, Order, RecordFilters
from kasparro.gql import rest
from kasparro.gql.config import AppConfig
from kasparro.gql.dbcall import run_db

log = logging.getLogger(__name__)

COLUMNS = (
    "source",
    "record_id",
    "value",
    "timestamp",
    "asset_id",
    "symbol",
    "name",
    "market_cap",
    "volume_24h",
)
"""The CSV columns: the keys of a ``/data`` item, in their order."""

EXPORT_PARAMETERS = tuple(name for name in rest.DATA_PARAMETERS if name != "limit")

Items = list[dict[str, Any]]


def _csv_head() -> str:
    return ",".join(COLUMNS) + "\n"


def _csv_rows(items: Items) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([item[column] for column in COLUMNS] for item in items)
    return out.getvalue()


def _ndjson_rows(items: Items) -> str:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


class ExportFormat(NamedTuple):
    media_type: str
    head: Callable[[], str]
    rows: Callable[[Items], str]


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("text/csv; charset=utf-8", _csv_head, _csv_rows),
    "ndjson": ExportFormat("application/x-ndjson", lambda: "", _ndjson_rows),
}

_ACCEPTED = {"text/csv": "csv", "application/x-ndjson": "ndjson"}
"""Media types in ``Accept`` that turn ``GET /data`` into an export."""


def negotiated(accept: str | None) -> str | None:
    """The export format the ``Accept`` header names first, or None (a JSON page)."""
    for part in (accept or "").split(","):
        found = _ACCEPTED.get(part.split(";")[0].strip().lower())
        if found is not None:
            return found
    return None


def batches(
    read: Callable[[Keyset | None], tuple[Items, Keyset | None]], start: Keyset | None
) -> Iterator[Items]:
    """Every batch ``read`` returns from ``start`` on, until one says there is no next."""
    position = start
    while True:
        items, position = read(position)
        yield items
        if position is None:
            return


def export_lines(
    conn_of: Callable[[], Any],
    fmt: ExportFormat,
    wanted: RecordFilters,
    order: Order,
    start: Keyset | None,
    batch: int,
) -> Iterator[str]:
    """The export as text chunks, each batch on a fresh connection (for the CLI)."""

    def read(position: Keyset | None) -> tuple[Items, Keyset | None]:
        with conn_of() as conn:
            return rest.records_json(conn, wanted, position, batch, order)

    yield fmt.head()
    for items in batches(read, start):
        yield fmt.rows(items)


async def _stream(
    request: Request, fmt: ExportFormat, asked: rest.DataRequest
) -> AsyncIterator[str]:
    config: AppConfig = request.app.state.config
    engine = request.app.state.read_engine
    sent, complete = 0, False

    def read(conn: Connection, position: Keyset | None) -> tuple[Items, Keyset | None]:
        return rest.records_json(
            conn, asked.filters, position, config.export_batch_rows, asked.order
        )

    try:
        yield fmt.head()
        position = asked.position
        while True:
            items, position = await run_db(engine, read, position)
            yield fmt.rows(items)
            sent += len(items)
            if position is None:
                complete = True
                return
    finally:
        if not complete:
            log.info("export stopped after %d rows: the client went away", sent)


async def _export(request: Request, name: str) -> StreamingResponse:
    fmt = FORMATS[name]
    asked = rest.data_request(request, EXPORT_PARAMETERS)
    return StreamingResponse(
        _stream(request, fmt, asked),
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="records.{name}"'},
    )


def export_app(name: str) -> ASGIApp:
    """``GET /data.<name>``: the export in format ``name``, gzip when accepted."""

    async def endpoint(request: Request) -> StreamingResponse:
        return await _export(request, name)

    return GZipMiddleware(request_response(endpoint), minimum_size=1024)


class DataRoute:
    """``GET /data``: a JSON page, or an export when ``Accept`` asks for one."""

    def __init__(self) -> None:
        self.page = request_response(rest.data)
        self.exports = {name: export_app(name) for name in FORMATS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = negotiated(Headers(scope=scope).get("accept"))
        app = self.page if name is None else self.exports[name]
        await app(scope, receive, send)
