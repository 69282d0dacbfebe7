"""GraphQL over HTTP, the request side: what a request asks for, or why it is refused.

``read_request`` turns a ``GET /graphql?query=…`` or a ``POST`` JSON body into the
operations it carries (one, or a batch: a JSON array of them), following the GraphQL over
HTTP specification:

- POST needs ``Content-Type: application/json`` (any charset parameter but UTF-8 is
  refused); a body that is not UTF-8 JSON text (``gql.text``), or whose JSON is not an
  object (or, for a batch, an array), is refused;
- each operation's ``query`` is a string, ``operationName`` a string or null,
  ``variables`` and ``extensions`` objects or null (on GET: JSON text of objects);
- a batch holds at least one and at most ``max_batch`` operations (MAX_BATCH; 0 turns
  batching off); each item is checked on its own, so one malformed item is answered with
  its own error while the others run.

Every refusal is a ``RequestError``: the HTTP status, a message that says what to fix and
``extensions.code``, answered as a GraphQL JSON response (``errors`` only) in every case.
``response_media_type`` picks the response's media type from ``Accept``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from graphql import DocumentNode, OperationDefinitionNode
from starlette.requests import Request
from strawberry.http import GraphQLRequestData

from kasparro.gql.errors import ApiError
from kasparro.gql.text import load_json

GRAPHQL_RESPONSE = "application/graphql-response+json"
"""The media type of the GraphQL over HTTP specification."""
JSON = "application/json"
"""The legacy media type: every well-formed request is answered 200."""

Operation: TypeAlias = GraphQLRequestData
"""One well-formed GraphQL request of an HTTP request (Strawberry's own type)."""

BAD_REQUEST = "BAD_REQUEST"
"""``extensions.code`` of a request that is not a well-formed GraphQL over HTTP request."""
OPERATION_NOT_FOUND = "OPERATION_RESOLUTION_FAILURE"
"""``extensions.code`` of a document without the operation to run."""


class RequestError(Exception):
    """A request refused before any operation of it runs."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str = BAD_REQUEST,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The GraphQL response: ``errors`` only (nothing executed, so no ``data``)."""
        return {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}


class OperationError(RequestError):
    """A well-formed request whose operation cannot run (an unknown ``operationName`` or
    persisted-query hash, several operations and no name): a GraphQL request error, answered
    as a validation error is (200 in ``JSON``, 400 in ``GRAPHQL_RESPONSE``)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """What an HTTP request carries: its operations (``Operation``: Strawberry's
    ``GraphQLRequestData``) (a refused item as its ``RequestError``)
    and whether they came as a batch (answered as a JSON array)."""

    items: tuple[Operation | RequestError, ...]
    batch: bool


def response_media_type(accept: str) -> str:
    """``GRAPHQL_RESPONSE`` when ``Accept`` prefers it, else ``JSON`` (also for ``*/*``, no
    ``Accept`` at all, or one naming neither: answering beats a 406 for legacy clients)."""
    best, best_q = JSON, -1.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        if media not in (GRAPHQL_RESPONSE, JSON):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q or (q == best_q and media == GRAPHQL_RESPONSE):
            best, best_q = media, q
    return best if best_q > 0 else JSON


async def read_request(request: Request, max_batch: int) -> Incoming:
    """The operations of ``request``; ``RequestError`` when the request as a whole is not
    one the service can read."""
    if request.method == "GET":
        return Incoming((_from_params(request.query_params),), batch=False)
    _check_content_type(request.headers.get("content-type"))
    body = await request.body()
    if not body.strip():
        raise RequestError("the request body is empty; send a JSON object with a query")
    try:
        data = load_json(body, "GraphQL request")
    except ApiError as exc:
        raise RequestError(exc.message) from None
    if isinstance(data, dict):
        return Incoming((_operation(data),), batch=False)
    if isinstance(data, list):
        return Incoming(_batch(data, max_batch), batch=True)
    raise RequestError(
        f"the request body is a JSON {_json_type(data)}; send a JSON object "
        '({"query": …, "variables": …, "operationName": …})'
        + (" or an array of them (a batch)" if max_batch else "")
    )


def _check_content_type(header: str | None) -> None:
    media, _, params = (header or "").partition(";")
    if media.strip().lower() != JSON:
        shown = f"{header!r}" if header else "none"
        raise RequestError(
            f"unsupported Content-Type {shown}: send the request as {JSON}",
            status=415,
        )
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise RequestError(
                f"unsupported charset {charset!r}: send the JSON encoded as UTF-8", status=415
            )


def _batch(items: list[Any], max_batch: int) -> tuple[Operation | RequestError, ...]:
    if max_batch == 0:
        raise RequestError("batching is off on this server (MAX_BATCH=0); send one operation")
    if not items:
        raise RequestError("the batch is empty; send at least one operation")
    if len(items) > max_batch:
        raise RequestError(
            f"the batch holds {len(items)} operations, over the limit of {max_batch} "
            "(MAX_BATCH); split it"
        )
    checked: list[Operation | RequestError] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise RequestError(
                    f"batch item {index} is a JSON {_json_type(item)}; each item is an object"
                )
            checked.append(_operation(item))
        except RequestError as exc:
            checked.append(exc)
    return tuple(checked)


def _from_params(params: Mapping[str, str]) -> Operation:
    return _operation(
        {
            "query": params.get("query"),
            "operationName": params.get("operationName"),
            "variables": _json_param(params, "variables"),
            "extensions": _json_param(params, "extensions"),
        }
    )


def _json_param(params: Mapping[str, str], name: str) -> object:
    text = params.get(name)
    if not text:
        return None
    try:
        return load_json(text, name)
    except ApiError as exc:
        raise RequestError(exc.message) from None


def _operation(data: Mapping[str, Any]) -> Operation:
    query = data.get("query")
    if query is not None and not isinstance(query, str):
        raise RequestError(f"query must be a string, not a JSON {_json_type(query)}")
    name = data.get("operationName")
    if name is not None and not isinstance(name, str):
        raise RequestError(f"operationName must be a string or null, not a JSON {_json_type(name)}")
    for key in ("variables", "extensions"):
        value = data.get(key)
        if value is not None and not isinstance(value, dict):
            raise RequestError(f"{key} must be an object or null, not a JSON {_json_type(value)}")
    return Operation(query, data.get("variables"), name, data.get("extensions"))


def _json_type(value: object) -> str:
    """The JSON type of a decoded value, as a client would name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    """The operation to run (GraphQL specification, GetOperation); ``OperationError`` when
    the document has several and no ``name``, or none of that name."""
    operations = [
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if name is None:
        if len(operations) == 1:
            return operations[0]
        raise OperationError(
            "Must provide operation name if query contains multiple operations.",
            code=OPERATION_NOT_FOUND,
        )
    for node in operations:
        if node.name is not None and node.name.value == name:
            return node
    raise OperationError(f"Unknown operation named '{name}'.", code=OPERATION_NOT_FOUND)
