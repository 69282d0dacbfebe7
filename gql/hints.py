"""With INTROSPECTION off, error messages disclose nothing of the schema the client did
not write itself.

graphql-core's messages help whoever explores a schema: "Cannot query field 'recordz' on
type 'Query'. Did you mean 'records'?", "Value 'DES' does not exist in 'SortOrder' enum.",
"Field 'records' of type 'RecordConnection!' must have a selection of subfields.", and the
type of an argument given a wrong literal or variable: "Int cannot represent non-integer
value: 'x'", "Value cannot represent a DateTime: …". With introspection off they would let
a client rebuild the schema by trial and error. So every error message not written by our
own code (``ApiError``) is rewritten: suggestions ("Did you mean …?") are dropped; a quoted
name that belongs to the schema (a type, the built-in scalars included, a field, argument
or enum value) but appears nowhere in the request's document is replaced by ``HIDDEN``, and
so is such a type name standing unquoted. Names the client wrote stay, so the message
still points at the mistake: "Cannot query field 'recordz' on type <hidden>."

``ApiError`` messages are ours and name no schema element, and unexpected errors are
masked already ("Unexpected error."); both pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSchema, is_enum_type
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from kasparro.gql.compiled.seam import graphql_schema
from kasparro.gql.errors import ApiError

HIDDEN = "<hidden>"

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_QUOTED = re.compile(r"'([^']*)'")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


@dataclass(frozen=True, slots=True)
class SchemaNames:
    """Names a client could learn from the schema."""

    types: frozenset[str]
    """Every type but the introspection ones (``__Type``…): ours and the built-in scalars."""
    all: frozenset[str]
    """The types, their fields, arguments and enum values."""


def schema_names(schema: GraphQLSchema) -> SchemaNames:
    """The ``SchemaNames`` of ``schema``."""
    types = {name for name in schema.type_map if not name.startswith("__")}
    names = set(types)
    for name in types:
        type_ = schema.type_map[name]
        if is_enum_type(type_):
            names.update(type_.values)
        for field_name, field in getattr(type_, "fields", {}).items():
            names.add(field_name)
            names.update(getattr(field, "args", {}))
    return SchemaNames(frozenset(types), frozenset(names))


def without_hints(message: str, written: Collection[str], names: SchemaNames) -> str:
    """``message`` without suggestions, with every quoted schema name and every unquoted
    type name that is not in ``written`` replaced by ``HIDDEN``."""

    def unwritten(name: str, among: frozenset[str]) -> bool:
        return name in among and name not in written

    def hide_quoted(text: str) -> str:
        secret = any(unwritten(name, names.all) for name in _NAME.findall(text))
        return HIDDEN if secret else f"'{text}'"

    def hide_type(match: re.Match[str]) -> str:
        return HIDDEN if unwritten(match.group(0), names.types) else match.group(0)

    # With one group, split() puts the text outside quotes at even indexes, inside at odd.
    parts = _QUOTED.split(_SUGGESTION.sub("", message))
    return "".join(
        hide_quoted(part) if index % 2 else _NAME.sub(hide_type, part)
        for index, part in enumerate(parts)
    )


class HideSchemaHints(SchemaExtension):
    """Rewrites the request's pre-execution errors with ``without_hints`` (one per request;
    the schema's names are listed only for a request that has errors)."""

    def on_operation(self) -> Iterator[None]:
        yield
        execution = self.execution_context
        result = execution.result
        if not isinstance(result, GraphQLExecutionResult | ExecutionResult) or not result.errors:
            return
        written = frozenset(_NAME.findall(execution.query or ""))
        names = schema_names(graphql_schema(execution.schema))
        result.errors = [_hidden(error, written, names) for error in result.errors]


def _hidden(error: GraphQLError, written: frozenset[str], names: SchemaNames) -> GraphQLError:
    if isinstance(error.original_error, ApiError):
        return error
    message = without_hints(error.message, written, names)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions=error.extensions,
    )
