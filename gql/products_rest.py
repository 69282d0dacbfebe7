"""REST twins of the data products: ``GET /candles``, ``/consensus``, ``/divergences``.

The same checks and the same ``db`` functions as the GraphQL fields (``gql.products``);
list parameters take repeated values or commas, as ``/data``'s do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from kasparro.db import consensus as consensus_db
from kasparro.gql import filters, products
from kasparro.gql.config import AppConfig
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import BadInput
from kasparro.gql.middleware import request_id_of
from kasparro.gql.rest import _latency_ms, _list_param, _single

T = TypeVar("T")


def checked_params(request: Request, accepted: Sequence[str]) -> Any:
    """The query parameters, refused (400) when one is not ``accepted``."""
    params = request.query_params
    unknown = sorted(set(params.keys()) - set(accepted))
    if unknown:
        raise BadInput(
            f"unknown parameter {', '.join(map(repr, unknown))} (accepted: {', '.join(accepted)})"
        )
    return params


def _parsed(params: Any, name: str, parse: Callable[[str], T], what: str) -> T | None:
    text = _single(params, name)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        raise BadInput(f"{name}: expected {what}, got {text[:20]!r}") from None


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def number(params: Any, name: str) -> float | None:
    """A finite number parameter, or None when absent."""
    return _parsed(params, name, _finite, "a finite number")


def whole(params: Any, name: str) -> int | None:
    """A whole number parameter, or None when absent."""
    return _parsed(params, name, int, "a whole number")


def consensus_json(row: consensus_db.Consensus) -> dict[str, Any]:
    """One asset's consensus as REST returns it."""
    return {
        "asset": {"id": row.asset_id, "symbol": row.symbol, "name": row.name},
        "median": row.median,
        "min": row.min,
        "max": row.max,
        "spread_pct": row.spread_pct,
        "quotes": [
            {
                "source": quote.source,
                "value": quote.value,
                "timestamp": quote.timestamp.isoformat(),
                "deviation_pct": quote.deviation_pct,
                "outlier": quote.outlier,
            }
            for quote in row.quotes
        ],
    }


def answer(request: Request, data: list[dict[str, Any]]) -> JSONResponse:
    """The envelope every list endpoint answers with."""
    return JSONResponse(
        {
            "request_id": request_id_of(request),
            "api_latency_ms": _latency_ms(request),
            "data": data,
        }
    )


async def consensus(request: Request) -> JSONResponse:
    """``GET /consensus?asset=&symbol=``: per asset, the sources' median and spread."""
    config: AppConfig = request.app.state.config
    params = checked_params(request, ("asset", "symbol"))
    wanted = filters.prices_request(
        asset=_list_param(params, "asset"), symbol=_list_param(params, "symbol")
    )
    rows = await run_db(
        request.app.state.read_engine,
        products.read_consensus,
        request.app.state.prices,
        products.consensus_rules(config),
        wanted.asset_ids,
        wanted.symbols,
    )
    return answer(request, [consensus_json(row) for row in rows])


async def divergences(request: Request) -> JSONResponse:
    """``GET /divergences?min_spread_pct=&limit=``: the widest spreads first."""
    config: AppConfig = request.app.state.config
    params = checked_params(request, ("min_spread_pct", "limit"))
    spread = products.min_spread("min_spread_pct", number(params, "min_spread_pct"))
    limit = filters.page_size(
        "limit",
        whole(params, "limit"),
        default=products.DIVERGENCES_DEFAULT,
        maximum=config.max_page_size,
    )
    rows = await run_db(
        request.app.state.read_engine,
        products.read_divergences,
        request.app.state.prices,
        products.consensus_rules(config),
        spread,
        limit,
    )
    return answer(request, [consensus_json(row) for row in rows])


CANDLE_PARAMETERS = ("asset", "symbol", "source", "interval", "since", "until", "limit")


def _timestamp(params: Any, name: str) -> datetime | None:
    text = _single(params, name)
    return filters.parse_timestamp(name, text) if text is not None else None


async def candles(request: Request) -> JSONResponse:
    """``GET /candles?asset=|symbol=&interval=&source=&since=&until=&limit=``."""
    params = checked_params(request, CANDLE_PARAMETERS)
    wanted = products.candles_request(
        asset=_single(params, "asset"),
        symbol=_single(params, "symbol"),
        source=_list_param(params, "source"),
        interval=products.interval_named("interval", _single(params, "interval")),
        since=_timestamp(params, "since"),
        until=_timestamp(params, "until"),
        first=whole(params, "limit"),
        names=("asset", "symbol", "source", "since", "until", "limit"),
        config=request.app.state.config,
    )
    rows = await run_db(request.app.state.read_engine, products.read_candles, wanted)
    return answer(
        request,
        [{**row._asdict(), "start": row.start.isoformat()} for row in rows],
    )
