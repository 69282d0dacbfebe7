"""The data products' part of ``/openapi.json``: ``/candles``, ``/consensus``,
``/divergences`` and the exports ``/data.csv``, ``/data.ndjson``.

``extend`` adds their paths and components to the document ``gql.openapi`` builds, taking
the shared pieces (the 503/504 answers, the request id header, the envelope fields) from
that document's ``/data`` so they are declared once.
"""

from __future__ import annotations

from typing import Any

from kasparro.db.candles import INTERVALS
from kasparro.gql.config import AppConfig
from kasparro.gql.exports import EXPORT_PARAMETERS, FORMATS
from kasparro.gql.filters import MAX_VALUE_LENGTH
from kasparro.gql.openapi import _error, _json, _list_parameter, _object
from kasparro.gql.products import CANDLES_DEFAULT, DIVERGENCES_DEFAULT

_NUMBER = {"type": "number"}


def _list_answer(item: str, description: str, data_get: dict[str, Any]) -> dict[str, Any]:
    """The 200 answer ``{request_id, api_latency_ms, data: [item]}`` and the shared errors."""
    page = data_get["responses"]["200"]
    envelope = _object(
        {
            "request_id": {"type": "string"},
            "api_latency_ms": {"type": "number", "minimum": 0},
            "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
        }
    )
    return {
        "200": {**_json(envelope, description), "headers": page["headers"]},
        "400": _error("a bad or unknown parameter"),
        **{status: data_get["responses"][status] for status in ("503", "504")},
    }


def extend(document: dict[str, Any], config: AppConfig) -> dict[str, Any]:
    """``document`` with the data products' paths and components added (in place)."""
    data_get = document["paths"]["/data"]["get"]
    quote = _object(
        {
            "source": {"type": "string"},
            "value": _NUMBER,
            "timestamp": {"type": "string", "format": "date-time"},
            "deviation_pct": _NUMBER,
            "outlier": {"type": "boolean"},
        }
    )
    consensus = _object(
        {
            "asset": _object(
                {"id": {"type": "string"}, "symbol": {"type": "string"}, "name": {"type": "string"}}
            ),
            "median": _NUMBER,
            "min": _NUMBER,
            "max": _NUMBER,
            "spread_pct": {"type": "number", "minimum": 0},
            "quotes": {"type": "array", "items": {"$ref": "#/components/schemas/SourceQuote"}},
        }
    )
    candle = _object(
        {
            "start": {"type": "string", "format": "date-time"},
            **{name: _NUMBER for name in ("open", "high", "low", "close")},
            "samples": {"type": "integer", "minimum": 1},
            "sources": {"type": "array", "items": {"type": "string"}},
        }
    )
    document["components"]["schemas"].update(
        {"SourceQuote": quote, "Consensus": consensus, "Candle": candle}
    )
    by_name = {p["name"]: p for p in data_get["parameters"]}
    one_of = "Give exactly one of asset and symbol."
    # Text with something besides white space, without NUL (gql.filters.plain_values).
    one_value = {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": "^[^\\x00]*\\S"}
    document["paths"]["/candles"] = {
        "get": {
            "summary": "Open, high, low, close per UTC-aligned bucket, oldest first",
            "description": "Buckets without records are absent; weeks start on Monday. "
            "open/close are the first/last record by time, ties broken by source name.",
            "parameters": [
                {
                    "name": "asset",
                    "in": "query",
                    "description": f"Canonical asset id, e.g. bitcoin. {one_of}",
                    "schema": one_value,
                },
                {
                    "name": "symbol",
                    "in": "query",
                    "description": f"Ticker symbol; case is ignored. {one_of}",
                    "schema": one_value,
                },
                by_name["source"],
                {
                    "name": "interval",
                    "in": "query",
                    "required": True,
                    "description": "Bucket length.",
                    "schema": {"enum": list(INTERVALS)},
                },
                by_name["since"],
                by_name["until"],
                {
                    "name": "limit",
                    "in": "query",
                    "description": f"At most this many buckets, default {CANDLES_DEFAULT}.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": config.max_page_size},
                },
            ],
            "responses": _list_answer("Candle", "oldest bucket first", data_get),
        }
    }
    document["paths"]["/consensus"] = {
        "get": {
            "summary": "Per asset, each source's newest quote, their median and spread",
            "description": "Quotes older than CONSENSUS_MAX_AGE_SECONDS before the asset's "
            "newest are left out; a quote further than CONSENSUS_OUTLIER_PCT percent from the "
            "median is an outlier. Assets in id order.",
            "parameters": [
                _list_parameter("asset", "Canonical asset ids, e.g. bitcoin."),
                _list_parameter("symbol", "Ticker symbols; case is ignored."),
            ],
            "responses": _list_answer("Consensus", "per asset", data_get),
        }
    }
    document["paths"]["/divergences"] = {
        "get": {
            "summary": "Assets whose sources disagree, widest spread first",
            "parameters": [
                {
                    "name": "min_spread_pct",
                    "in": "query",
                    "description": "Only assets whose spread_pct exceeds this; default 1.0.",
                    "schema": {"type": "number", "minimum": 0},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "description": f"At most this many assets, default {DIVERGENCES_DEFAULT}.",
                    "schema": {"type": "integer", "minimum": 1, "maximum": config.max_page_size},
                },
            ],
            "responses": _list_answer("Consensus", "widest first", data_get),
        }
    }
    exported = [p for p in data_get["parameters"] if p["name"] in EXPORT_PARAMETERS]
    for name, fmt in FORMATS.items():
        document["paths"][f"/data.{name}"] = {
            "get": {
                "summary": f"Every record matching the filters, streamed as {name}",
                "description": "The concatenation of /data's pages for the same parameters "
                "(without limit), in keyset order; gzip when Accept-Encoding allows it. "
                f"GET /data with Accept: {fmt.media_type.split(';')[0]} answers the same.",
                "parameters": exported,
                "responses": {
                    "200": {
                        "description": "the records",
                        "content": {fmt.media_type.split(";")[0]: {"schema": {"type": "string"}}},
                        "headers": data_get["responses"]["200"]["headers"],
                    },
                    "400": _error("bad filter, date, cursor or unknown parameter"),
                    **{status: data_get["responses"][status] for status in ("503", "504")},
                },
            }
        }
    return document
