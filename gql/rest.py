"""REST shims: ``/health``, ``/data``, ``/stats`` and ``POST /etl/run``.

Thin adapters over ``db.queries`` (through ``gql.filters`` and ``gql.cursors``, the same
input rules as GraphQL); shapes are documented in ``gql.openapi`` and docs/api.md.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import JSONResponse

from kasparro.db import queries
from kasparro.db.outcomes import RunStatus
from kasparro.db.queries import DbRow, Keyset, RecordFilters
from kasparro.db.record import RECORD_FIELDS, RecordRow
from kasparro.gql import filters
from kasparro.gql.admin import authorize, run_etl_now
from kasparro.gql.config import AppConfig
from kasparro.gql.cursors import decode_cursor, encode_cursor
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import BadInput
from kasparro.gql.middleware import request_id_of, started_at
from kasparro.gql.text import load_json
from kasparro.gql.types import counter_values

DATA_PARAMETERS = (
    "source",
    "record_id",
    "asset",
    "symbol",
    "since",
    "until",
    "limit",
    "cursor",
    "order",
)
LIST_PARAMETERS = ("source", "record_id", "asset", "symbol")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _latency_ms(request: Request) -> float:
    return round((time.perf_counter() - started_at(request)) * 1000, 2)


def run_json(run: DbRow, sources: list[DbRow]) -> dict[str, Any]:
    """An ETL run as REST returns it."""
    finished = run.finished_at
    return {
        "id": run.id,
        "status": RunStatus(run.status).value,
        "trigger": run.trigger,
        "started_at": run.started_at.isoformat(),
        "finished_at": _iso(finished),
        "duration_ms": (
            round((finished - run.started_at).total_seconds() * 1000) if finished else None
        ),
        "error": run.error,
        "sources": [
            {
                "source": row.source,
                "status": RunStatus(row.status).value,
                **counter_values(row),
                "error": row.error,
                "note": row.note,
                "started_at": row.started_at.isoformat(),
                "finished_at": _iso(row.finished_at),
                "checkpoint_before": _iso(row.checkpoint_before),
                "checkpoint_after": _iso(row.checkpoint_after),
            }
            for row in sources
        ],
    }


async def health(request: Request) -> JSONResponse:
    """``GET /health``: 200 when every database answers (``slow`` when one answers late),
    else 503 (``db`` / ``read_db``)."""
    report = await request.app.state.health.check()
    body = {
        "db": report.db,
        "etl_last_run": report.etl_last_run,
        "database": report.database,
        "detail": report.detail,
        "read_db": report.read_db,
        "slow": report.slow,
    }
    return JSONResponse(body, status_code=200 if report.healthy else 503)


def _list_param(params: Any, name: str) -> list[str]:
    return [part for value in params.getlist(name) for part in value.split(",")]


def _single(params: Any, name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise BadInput(f"{name}: give it once, got {len(values)} values")
    if values and not values[0].strip():
        raise BadInput(f"{name}: empty value; leave the parameter out instead")
    return values[0].strip() if values else None


def _order(text: str | None) -> queries.Order:
    if text is None:
        return "desc"
    lowered = text.lower()
    if lowered == "asc":
        return "asc"
    if lowered == "desc":
        return "desc"
    raise BadInput(f"order: expected asc or desc, got {text[:20]!r}")


def _limit(text: str | None, config: AppConfig) -> int:
    if text is None:
        return config.default_page_size
    try:
        number = int(text)
    except ValueError:
        raise BadInput(f"limit: expected a whole number, got {text[:20]!r}") from None
    return filters.page_size(
        "limit", number, default=config.default_page_size, maximum=config.max_page_size
    )


def records_json(
    conn: Connection,
    wanted: RecordFilters,
    position: Keyset | None,
    limit: int,
    order: queries.Order,
) -> tuple[list[dict[str, Any]], Keyset | None]:
    """One page as JSON-ready dicts, built in the worker thread (off the event loop)."""
    page = queries.records(conn, wanted, position, limit, order)
    return record_items(page.rows), page.next_key


_STAMP_KEYS = tuple(field.name for field in RECORD_FIELDS if field.type is datetime)


def record_items(rows: Sequence[RecordRow]) -> list[dict[str, Any]]:
    """Records as REST shows them: every declared field (``db.record``), timestamps in
    ISO 8601. Rows of one page share few timestamps (all UTC, as ``UTCDateTime`` reads
    them), so each distinct one is formatted once."""
    items: list[dict[str, Any]] = list(map(dict, map(zip, repeat(RecordRow._fields), rows)))
    for key in _STAMP_KEYS:
        values = [item[key] for item in items]
        text = {value: _iso(value) for value in set(values)}
        for item, value in zip(items, values, strict=True):
            item[key] = text[value]
    return items


@dataclass(frozen=True, slots=True)
class DataRequest:
    """The checked parameters of ``GET /data`` (and of the exports, which take the same)."""

    filters: RecordFilters
    order: queries.Order
    limit: int
    position: Keyset | None


def data_request(request: Request, accepted: Sequence[str] = DATA_PARAMETERS) -> DataRequest:
    """Check ``/data``'s parameters (only ``accepted`` ones may be given)."""
    config: AppConfig = request.app.state.config
    params = request.query_params
    unknown = sorted(set(params.keys()) - set(accepted))
    if unknown:
        raise BadInput(
            f"unknown parameter {', '.join(map(repr, unknown))} (accepted: {', '.join(accepted)})"
        )
    since_text = _single(params, "since")
    until_text = _single(params, "until")
    wanted = filters.record_filters(
        source=_list_param(params, "source"),
        record_id=_list_param(params, "record_id"),
        asset=_list_param(params, "asset"),
        symbol=_list_param(params, "symbol"),
        since=filters.parse_timestamp("since", since_text) if since_text else None,
        until=filters.parse_timestamp("until", until_text) if until_text else None,
        names=("source", "record_id", "asset", "symbol", "since", "until"),
    )
    order = _order(_single(params, "order"))
    limit = _limit(_single(params, "limit"), config)
    cursor = _single(params, "cursor")
    position = decode_cursor(cursor, order) if cursor else None
    return DataRequest(wanted, order, limit, position)


async def data(request: Request) -> JSONResponse:
    """``GET /data``: one page of records, newest first, with ``next_cursor``."""
    asked = data_request(request)
    items, key = await run_db(
        request.app.state.read_engine,
        records_json,
        asked.filters,
        asked.position,
        asked.limit,
        asked.order,
    )
    return JSONResponse(
        {
            "request_id": request_id_of(request),
            "api_latency_ms": _latency_ms(request),
            "data": items,
            "next_cursor": encode_cursor(key, asked.order) if key is not None else None,
        }
    )


def _stats(conn: Connection) -> tuple[queries.StoreStats, list[DbRow]]:
    figures = queries.store_stats(conn)
    last = figures.last_run
    sources = queries.run_sources_by_run(conn, [last.id])[last.id] if last is not None else []
    return figures, sources


async def stats(request: Request) -> JSONResponse:
    """``GET /stats``: store and ETL figures from the run tables."""
    figures, sources = await run_db(request.app.state.read_engine, _stats)
    last = figures.last_run
    return JSONResponse(
        {
            "request_id": request_id_of(request),
            "api_latency_ms": _latency_ms(request),
            "records_processed": figures.records_processed,
            "records_total": figures.records_total,
            "last_run": run_json(last, sources) if last is not None else None,
            "sources": figures.sources,
            "rows": figures.rows._asdict(),
            "runs_total": figures.runs_total,
            "assets_total": figures.assets_total,
        }
    )


def _requested_sources(body: bytes) -> tuple[str, ...]:
    if not body:
        return ()
    payload = load_json(body, "body")
    if not isinstance(payload, Mapping) or set(payload) - {"sources"}:
        raise BadInput('body: expected JSON like {"sources": ["csv"]} or no body')
    names = payload.get("sources")
    if names is None:
        return ()
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise BadInput("sources: expected a list of source names")
    return filters.sources("sources", names)


async def etl_run(request: Request) -> JSONResponse:
    """``POST /etl/run``: run the ETL now (admin token required) and return the run."""
    config: AppConfig = request.app.state.config
    authorize(config.admin_token, request.headers.get("authorization"))
    names = _requested_sources(await request.body())
    run = await run_etl_now(request.app.state.engine, request.app.state.etl, names or None)
    sources = await run_db(request.app.state.engine, queries.run_sources_by_run, [run.id])
    body = run_json(run, sources[run.id])
    body["request_id"] = request_id_of(request)
    return JSONResponse(body)
