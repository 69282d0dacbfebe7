"""``/graphql``: the GraphQL over HTTP endpoint (Strawberry's ASGI view, answered our way).

A request is read by ``gql.transport`` (a refusal is a ``RequestError``), persisted
queries are resolved (``gql.apq``), and each operation is answered on its own:

- an operation that already has a compiled plan is answered from it (``gql.compiled``);
- otherwise its document is parsed and validated (``gql.documents``; cached), its operation
  selected as the GraphQL specification says (several operations and no ``operationName``
  is a request error, not the first one), a mutation over GET is a 405 with
  ``Allow: POST``, and the operation executes through Strawberry (a costly one on a loop of
  its own, ``gql.offload``).

Responses follow the specification: an error before execution (parse, validation, variable
coercion, an unknown operation or hash) has no ``data`` and carries ``extensions.code``
(``GRAPHQL_PARSE_FAILED``, ``GRAPHQL_VALIDATION_FAILED``, ``BAD_USER_INPUT`` unless the
error has a code of its own) and ``locations``; it is a 400 when the client accepts
``application/graphql-response+json``, a 200 in the legacy ``application/json``. A request
that is not well-formed is a 4xx with a GraphQL JSON body in either. A batch (a JSON array
body) is answered with an array, one answer per item, each independent of the others, once
its operations together are within the cost and alias limits (``gql.batch``). A GET query
reading only what the latest-prices counter covers gets an ``ETag``, and a 304 when the
client holds it (``gql.httpcache``).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from graphql import GraphQLError, OperationType
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.extensions import SchemaExtension
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType
from strawberry.types.unset import UNSET, UnsetType

from kasparro.db import latest
from kasparro.gql import httpcache
from kasparro.gql.apq import PersistedQueries
from kasparro.gql.batch import over_limits
from kasparro.gql.compiled.build import EncodedData
from kasparro.gql.compiled.extension import CompiledExecution, PlanCache
from kasparro.gql.compiled.fastpath import PlanShortcut
from kasparro.gql.compiled.seam import graphql_schema
from kasparro.gql.config import AppConfig
from kasparro.gql.context import Context
from kasparro.gql.dbcall import run_db
from kasparro.gql.errors import BadInput
from kasparro.gql.graphiql import graphiql_html
from kasparro.gql.live import CheckedWebSocket, checked_subscribe
from kasparro.gql.loaders import build_loaders
from kasparro.gql.observability import Observability
from kasparro.gql.offload import Offload
from kasparro.gql.schema import Guards, build_schema
from kasparro.gql.text import load_json
from kasparro.gql.transport import (
    JSON,
    OPERATION_NOT_FOUND,
    Operation,
    OperationError,
    RequestError,
    read_request,
    response_media_type,
    select_operation,
)

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
COERCION_FAILED = "BAD_USER_INPUT"

ALL_OPERATIONS = StrawberryOperationType.from_http("POST")
"""Strawberry checks none: the method is checked here (``RequestError`` 405)."""


@dataclass(slots=True)
class Answer:
    """One operation's GraphQL response and the HTTP status it would have alone."""

    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class GraphQLApp(GraphQL[Context, None]):
    """Strawberry's ASGI app (its schema, GraphiQL, WebSockets), with the HTTP requests
    answered by ``handle``: context with engine, config and fresh DataLoaders."""

    def __init__(self, config: AppConfig, obs: Observability) -> None:
        self.guards = Guards.for_config(config)
        """The document cache and the cost limit (``gql.schema``)."""
        self.plans = (
            PlanCache(
                config.graphql_cache_bytes,
                self.guards.documents.key_of,
                self.guards.documents.known_key,
            )
            if config.graphql_compiled
            else None
        )
        """Plans of the compiled path (``gql.compiled``); None when GRAPHQL_COMPILED is off."""
        self.offload = Offload(self.guards, config.graphql_offload_cost)
        """Runs costly queries on an event loop of their own (``gql.offload``)."""
        self.persisted = PersistedQueries(config.apq_cache_bytes, config.max_query_bytes)
        """Automatic persisted queries (``gql.apq``)."""
        extensions: list[Callable[[], SchemaExtension]] = [obs.graphql_extension()]
        if self.plans is not None:
            extensions.append(functools.partial(CompiledExecution, self.plans))
        schema = build_schema(config, extensions, self.guards)
        self._graphql_schema = graphql_schema(schema)
        super().__init__(
            schema,
            graphql_ide="graphiql" if config.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=config.subscriptions.init_timeout),
            # A page may open a WebSocket from the origins that may call the API over HTTP
            # (CORS_ORIGINS); from any other a browser's handshake is a 403.
            allowed_origins=config.cors_origins,
        )
        self.max_subscriptions_per_connection = config.subscriptions.max_per_connection
        self.graphql_transport_ws_handler_class = checked_subscribe(self.guards.variables)
        self.websocket_adapter_class = CheckedWebSocket
        self.shortcut = (
            PlanShortcut.for_schema(schema, self.plans, obs.graphql, self.guards.cost)
            if self.plans is not None
            else None
        )
        """Answers operations that already have a plan (``gql.compiled.fastpath``)."""
        self._config = config
        self._ide_html = graphiql_html() if config.graphiql else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response = await self.handle(Request(scope, receive=receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """The response to one HTTP request to ``/graphql``."""
        if self._config.graphiql and _wants_ide(request):
            return HTMLResponse(self._ide_html)
        media = response_media_type(request.headers.get("accept", ""))
        try:
            if request.method not in ("GET", "POST"):
                raise RequestError(
                    f"{request.method} is not a GraphQL method: use GET (queries) or POST",
                    status=405,
                    code="METHOD_NOT_ALLOWED",
                    headers={"Allow": "GET, POST"},
                )
            incoming = await read_request(request, self._config.max_batch)
            items = [self._resolved(item) for item in incoming.items]
            if incoming.batch:
                refused = await over_limits(
                    self.guards,
                    self._graphql_schema,
                    items,
                    self._config.max_query_aliases,
                )
                if refused is not None:
                    raise refused
        except RequestError as exc:
            return self._respond(media, exc.body(), _status(exc, media), exc.headers)
        context = await self.get_context(request, await self.get_sub_response(request))
        answers = [await self._answer(request, context, item, media) for item in items]
        if incoming.batch:
            return self._respond(media, [answer.body for answer in answers], 200, {})
        (answer,) = answers
        if answer.status == 304:
            return Response(status_code=304, headers=answer.headers)
        return self._respond(media, answer.body, answer.status, answer.headers)

    def _respond(
        self, media: str, body: object, status: int, headers: Mapping[str, str]
    ) -> Response:
        return Response(
            self.encode_json(body),
            status_code=status,
            headers=dict(headers),
            media_type=f"{media}; charset=utf-8",
        )

    async def _answer(
        self, request: Request, context: Context, item: Operation | RequestError, media: str
    ) -> Answer:
        try:
            if isinstance(item, RequestError):
                raise item
            if request.method != "GET":
                return await self._run(request, context, item, media)
            tag = await self._tag(context, item, media)
            if tag is not None and httpcache.fresh(request.headers.get("if-none-match"), tag):
                return Answer({}, 304, httpcache.headers(tag))
            answer = await self._run(request, context, item, media)
            if tag is not None and answer.status == 200 and "errors" not in answer.body:
                answer.headers.update(httpcache.headers(tag))
            return answer
        except RequestError as exc:
            return Answer(exc.body(), _status(exc, media), exc.headers)

    async def _tag(self, context: Context, operation: Operation, media: str) -> str | None:
        """The entity tag of a GET query that ``gql.httpcache`` may cache, else None."""
        if not operation.query:
            return None
        try:
            checked = await self.guards.documents.checked(self._graphql_schema, operation.query)
            selected = select_operation(checked.document, operation.operation_name)
        except (GraphQLError, RequestError):
            return None
        if checked.errors or not httpcache.cacheable(selected):
            return None
        try:
            version = await run_db(context.read_engine, latest.version)
        except SQLAlchemyError:  # the query meets the same failure and reports it
            return None
        return None if version is None else httpcache.etag(version, media)

    def _resolved(self, item: Operation | RequestError) -> Operation | RequestError:
        """``item`` with its persisted query (``gql.apq``), or why it cannot have one."""
        if isinstance(item, RequestError):
            return item
        try:
            return self.persisted.resolve(item)
        except RequestError as exc:
            return exc

    async def _run(
        self, request: Request, context: Context, operation: Operation, media: str
    ) -> Answer:
        query = operation.query
        if not query:
            raise RequestError(
                "no GraphQL document: send it as query (or a persisted query's hash in "
                "extensions.persistedQuery)"
            )
        try:  # bounded before anything coerces them (gql.variables)
            self.guards.variables.check(operation.variables)
        except BadInput as exc:
            raise RequestError(exc.message, code=COERCION_FAILED) from None
        if self.shortcut is not None:
            result = await self.shortcut.execute(request, context, operation)
            if result is not None:
                return Answer({"data": result.data})
        try:
            checked = await self.guards.documents.checked(self._graphql_schema, query)
        except GraphQLError:
            stage = PARSE_FAILED  # execution reports it as it words every error (hints)
        else:
            stage = VALIDATION_FAILED if checked.errors else COERCION_FAILED
            if not checked.errors:
                selected = select_operation(checked.document, operation.operation_name)
                if request.method == "GET" and selected.operation is not OperationType.QUERY:
                    raise RequestError(
                        f"a {selected.operation.value} cannot be sent with GET; use POST",
                        status=405,
                        code="METHOD_NOT_ALLOWED",
                        headers={"Allow": "POST"},
                    )
        result = await self._execute(context, operation, query)
        return _answer_of(result, stage, media)

    async def _execute(self, context: Context, operation: Operation, query: str) -> ExecutionResult:
        costly = await self.offload.costly(self._graphql_schema, operation)
        execution = self.schema.execute(
            query,
            variable_values=operation.variables,
            context_value=context,
            operation_name=operation.operation_name,
            allowed_operation_types=ALL_OPERATIONS,
            operation_extensions=operation.extensions,
        )
        try:
            return await (self.offload.run(execution) if costly else execution)
        except CannotGetOperationTypeError as exc:  # an invalid document names none
            raise OperationError(exc.as_http_error_reason(), code=OPERATION_NOT_FOUND) from None

    def decode_json(self, data: str | bytes) -> object:
        """The request's JSON; ``BadInput`` (400) unless it is UTF-8 Unicode text."""
        return load_json(data, "GraphQL request")

    def encode_json(self, data: object) -> str | bytes:
        """As Strawberry encodes, but a compiled answer's ``data`` is already JSON text."""
        if type(data) is list:  # a batch, item by item
            return "[" + ",".join(map(self.encode_json_string, data)) + "]"
        if type(data) is dict and len(data) == 1:
            answer = data.get("data")
            if isinstance(answer, EncodedData):
                return '{"data":' + answer.text + "}"
        return super().encode_json(data)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.app.state
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            engine=state.engine,
            read_engine=state.read_engine,
            config=self._config,
            prices=state.prices,
            health=state.health,
            loaders=build_loaders(state.read_engine, state.engine),
            etl=state.etl,
            feed=state.feed,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """With SUBSCRIPTION_TOKEN set, a WebSocket's ``connection_init`` payload must carry
        it as ``token``; else the socket is closed with 4403 (Forbidden)."""
        expected = self._config.subscriptions.token
        if expected is not None:
            sent = (context.connection_params or {}).get("token")
            if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(), expected.encode()
            ):
                raise ConnectionRejectionError()
        unset: UnsetType = UNSET
        return unset

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide_html)


def _wants_ide(request: Request) -> bool:
    """A browser opening ``/graphql`` (a GET with neither a query nor a persisted one)."""
    accept = request.headers.get("accept", "")
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "extensions" not in request.query_params
        and ("text/html" in accept or "*/*" in accept)
    )


def _status(error: RequestError, media: str) -> int:
    """A request error's status; an operation error is answered as a validation error."""
    if isinstance(error, OperationError):
        return 200 if media == JSON else 400
    return error.status


def _answer_of(result: ExecutionResult, stage: str, media: str) -> Answer:
    """The answer to an executed request. Errors without a path and no ``data`` happened
    before execution (``stage`` names the step that had not passed): no ``data`` entry,
    each error with a code."""
    body: dict[str, Any] = dict(process_result(result))
    errors = result.errors or []
    if result.data is not None or not errors or any(e.path is not None for e in errors):
        return Answer(body)
    formatted: list[dict[str, Any]] = []
    for error in body["errors"]:
        extensions = {"code": stage, **(error.get("extensions") or {})}
        formatted.append({**error, "extensions": extensions})
    body = {"errors": formatted, **({"extensions": result.extensions} if result.extensions else {})}
    return Answer(body, 200 if media == JSON else 400)
