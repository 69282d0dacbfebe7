"""A record as the service shows it: the one declaration of its fields.

``RecordRow`` names the fields of a record, in order, with their Python types and (in
``Annotated``) what each means. The page query selects exactly these columns of ``records``
(``RECORD_COLUMNS``), and every interface derives its view from ``RECORD_FIELDS``: the REST
rows and OpenAPI component (``gql.rest``, ``gql.openapi``), the GraphQL ``Record`` type
(``gql.types``) and the compiled path's column map (``gql.compiled.plan``). A field added
here (with its column in ``records``) appears in each of them.
"""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, NamedTuple, get_args, get_origin, get_type_hints

from kasparro.db.tables import records


class RecordRow(NamedTuple):
    """One row of a records page (``db.queries.records``)."""

    source: Annotated[str, "Source name, lower-case."]
    record_id: Annotated[str, "The source's own id for the coin."]
    value: Annotated[float, "Price in USD."]
    timestamp: Annotated[datetime, "When the price was observed (UTC)."]
    asset_id: Annotated[str, "Canonical id of the asset, e.g. `bitcoin`."]
    symbol: Annotated[str, "Ticker symbol, upper-case."]
    name: str
    market_cap: Annotated[float | None, "Market capitalisation in USD, when reported."]
    volume_24h: Annotated[float | None, "Traded volume of the last 24 hours in USD."]


class RecordField(NamedTuple):
    """One field of ``RecordRow``: its name, its type without ``None`` and its meaning."""

    name: str
    type: type
    nullable: bool
    description: str | None


def _field(name: str, hint: Any) -> RecordField:
    description = None
    if get_origin(hint) is Annotated:
        hint, description = get_args(hint)[:2]
    nullable = isinstance(hint, types.UnionType) and type(None) in get_args(hint)
    if nullable:
        (hint,) = (arg for arg in get_args(hint) if arg is not type(None))
    return RecordField(name, hint, nullable, description)


RECORD_FIELDS = tuple(
    _field(name, hint) for name, hint in get_type_hints(RecordRow, include_extras=True).items()
)
"""The fields of a record, in order."""

RECORD_COLUMNS = tuple(records.c[name] for name in RecordRow._fields)
"""What a records page selects, in ``RecordRow``'s order."""
