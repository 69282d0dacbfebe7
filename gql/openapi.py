"""The OpenAPI 3.1 document of the REST shims, served at ``/openapi.json``.

Written by hand next to ``gql.rest`` (keep them in step); page-size limits come from the
configuration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kasparro.db.outcomes import COUNTERS, SOURCE_STATUSES, RunStatus
from kasparro.db.record import RECORD_FIELDS, RecordField
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.gql.config import AppConfig
from kasparro.gql.cursors import CURSOR_MAX_LENGTH
from kasparro.gql.filters import MAX_FILTER_VALUES, MAX_VALUE_LENGTH

_STAMP = {"type": "string", "format": "date-time"}
_NULLABLE_STAMP = {"type": ["string", "null"], "format": "date-time"}
_COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], *, extra: bool = True) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": extra,
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_parameter(
    name: str, description: str, item: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description + " Repeat the parameter or separate values by commas.",
        "schema": {
            "type": "array",
            "maxItems": MAX_FILTER_VALUES,
            "items": item
            # One value per item: a comma separates values, so it is not part of one.
            or {"type": "string", "maxLength": MAX_VALUE_LENGTH, "pattern": "^[^\\x00,]*$"},
        },
        "style": "form",
        "explode": True,
    }


_JSON_TYPES: dict[type, dict[str, str]] = {
    str: {"type": "string"},
    float: {"type": "number"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
}
"""The JSON schema of a record field's Python type."""


def _record_field(field: RecordField) -> dict[str, Any]:
    """A record field (``db.record``) as REST's JSON shows it."""
    if field.name == "source":
        return {"enum": list(KNOWN_SOURCES), "description": field.description}
    schema: dict[str, Any] = dict(_JSON_TYPES[field.type])
    if field.nullable:
        schema["type"] = [schema["type"], "null"]
    if field.description:
        schema["description"] = field.description
    return schema


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def openapi_document(config: AppConfig) -> dict[str, Any]:
    """The document for an application built from ``config``."""
    _counters = dict.fromkeys(COUNTERS, _COUNT)
    source_run = _object(
        {
            "source": {"type": "string"},
            "status": {"enum": [status.value for status in SOURCE_STATUSES]},
            **_counters,
            "error": {"type": ["string", "null"]},
            "note": {"type": ["string", "null"]},
            "started_at": _STAMP,
            "finished_at": _NULLABLE_STAMP,
            "checkpoint_before": _NULLABLE_STAMP,
            "checkpoint_after": _NULLABLE_STAMP,
        }
    )
    run = _object(
        {
            "id": {"type": "integer"},
            "status": {"enum": [status.value for status in RunStatus]},
            "trigger": {"type": "string"},
            "started_at": _STAMP,
            "finished_at": _NULLABLE_STAMP,
            "duration_ms": {"type": ["integer", "null"]},
            "error": {"type": ["string", "null"]},
            "sources": {"type": "array", "items": {"$ref": "#/components/schemas/SourceRun"}},
        }
    )
    record = _object({field.name: _record_field(field) for field in RECORD_FIELDS})
    request_fields = {
        "request_id": {"type": "string"},
        "api_latency_ms": {"type": "number", "minimum": 0},
    }
    data_page = _object(
        {
            **request_fields,
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
            "next_cursor": {"type": ["string", "null"]},
        }
    )
    stats = _object(
        {
            **request_fields,
            "records_processed": _COUNT,
            "records_total": _COUNT,
            "last_run": {"anyOf": [{"$ref": "#/components/schemas/EtlRun"}, {"type": "null"}]},
            "sources": {"type": "array", "items": {"type": "string"}},
            "rows": _object(_counters, extra=False),
            "runs_total": _COUNT,
            "assets_total": _COUNT,
        }
    )
    health = _object(
        {
            "db": {"enum": ["ok", "error"]},
            "etl_last_run": {"type": "string"},
            "database": {"type": "string"},
            "detail": {"type": ["string", "null"]},
            "read_db": {"enum": ["ok", "error", None]},
            "slow": {"type": "boolean"},
        }
    )
    error = _object({"error": {"type": "string"}, "request_id": {"type": "string"}})
    retry_after = {
        "Retry-After": {"description": "Seconds to wait before trying again.", "schema": _COUNT}
    }
    database_errors = {
        "503": {
            **_error("the database is unreachable (or the server shutting down)"),
            "headers": retry_after,
        },
        "504": {
            **_error("the database did not answer within the request's timeouts"),
            "headers": retry_after,
        },
    }
    request_id_header = {
        "X-Request-ID": {
            "description": "The client's X-Request-ID when sane, else a new uuid4.",
            "schema": {"type": "string"},
        }
    }
    data_parameters = [
        _list_parameter(
            "source",
            f"Source names ({', '.join(KNOWN_SOURCES)}); an empty value is ignored.",
            {"enum": ["", *KNOWN_SOURCES]},
        ),
        _list_parameter("record_id", "The sources' own ids, e.g. bitcoin or btc-bitcoin."),
        _list_parameter("asset", "Canonical asset ids, e.g. bitcoin."),
        _list_parameter("symbol", "Ticker symbols; case is ignored."),
        {
            "name": "since",
            "in": "query",
            "description": "Inclusive lower bound, ISO 8601 (no offset means UTC).",
            "schema": {"type": "string", "format": "date-time"},
        },
        {
            "name": "until",
            "in": "query",
            "description": "Exclusive upper bound, ISO 8601 (no offset means UTC).",
            "schema": {"type": "string", "format": "date-time"},
        },
        {
            "name": "limit",
            "in": "query",
            "description": f"Page size, default {config.default_page_size}.",
            "schema": {"type": "integer", "minimum": 1, "maximum": config.max_page_size},
        },
        {
            "name": "cursor",
            "in": "query",
            "description": "next_cursor from the previous page: an opaque token (unpadded "
            "urlsafe base64) that only this service issues; any other value is a 400.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": CURSOR_MAX_LENGTH,
                "pattern": "^[A-Za-z0-9_-]+$",
            },
        },
        {
            "name": "order",
            "in": "query",
            "description": "desc (newest first, default) or asc; keep it while paging.",
            "schema": {"enum": ["asc", "desc"]},
        },
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kasparro REST shims",
            "version": "1.0.0",
            "description": "Crypto prices from the unified store. The full API is GraphQL "
            "at /graphql; these endpoints are thin shims over the same queries.",
        },
        "paths": {
            "/health": {
                "get": {
                    "summary": "Database reachability and the last ETL run",
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Health"}, "healthy"),
                        "503": _json({"$ref": "#/components/schemas/Health"}, "a db unreachable"),
                    },
                }
            },
            "/data": {
                "get": {
                    "summary": "One page of records, newest first",
                    "parameters": data_parameters,
                    "responses": {
                        "200": {
                            **_json({"$ref": "#/components/schemas/DataPage"}, "a page"),
                            "headers": request_id_header,
                        },
                        "400": _error("bad filter, date, cursor, limit or unknown source"),
                        **database_errors,
                    },
                }
            },
            "/stats": {
                "get": {
                    "summary": "Store and ETL figures from the run tables",
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/Stats"}, "figures"),
                        **database_errors,
                    },
                }
            },
            "/etl/run": {
                "post": {
                    "summary": "Run the ETL now and return the run",
                    "security": [{"adminToken": []}],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "sources": {
                                            "description": "absent or null: every enabled source",
                                            "type": ["array", "null"],
                                            "items": {"enum": list(KNOWN_SOURCES)},
                                        }
                                    },
                                    "additionalProperties": False,
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json({"$ref": "#/components/schemas/EtlRun"}, "the run"),
                        "400": _error("bad body or unknown source"),
                        "401": _error("missing or wrong admin token"),
                        "403": _error("ADMIN_TOKEN is not set on the server"),
                        "409": _error("the ETL did not run now"),
                        **database_errors,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record,
                "DataPage": data_page,
                "SourceRun": source_run,
                "EtlRun": run,
                "Stats": stats,
                "Health": health,
                "Error": error,
            },
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
