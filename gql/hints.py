"""With INTROSPECTION off, error messages disclose nothing of the schema the client did
not write itself.

graphql-core's messages help whoever explores a schema: "Cannot query field 'recordz' on
type 'Query'. Did you mean 'records'?", "Value 'DES' does not exist in 'SortOrder' enum.",
"Field 'records' of type 'RecordConnection!' must have a selection of subfields." With
introspection off they would let a client rebuild the schema by trial and error. So every
error raised before execution (syntax, validation, variable coercion: those without a
path) is rewritten: suggestions ("Did you mean …?") are dropped, and a quoted name that
belongs to the schema (a type, field, argument or enum value) but appears nowhere in the
request's document is replaced by ``HIDDEN``. Names the client wrote stay, so the message
still points at the mistake: "Cannot query field 'recordz' on type <hidden>."

Errors raised while executing (``ApiError`` messages, masked bugs) are ours and name no
schema element; they pass unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError, GraphQLSchema, is_enum_type
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from kasparro.gql.compiled.seam import graphql_schema

HIDDEN = "<hidden>"

_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_QUOTED = re.compile(r"'([^']*)'")
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def schema_names(schema: GraphQLSchema) -> frozenset[str]:
    """Names a client could learn from the schema: its own types (not the specification's
    scalars and introspection types), their fields, arguments and enum values."""
    names: set[str] = set()
    for type_ in schema.type_map.values():
        if type_.name.startswith("__") or type_.name in ("String", "Int", "Float", "Boolean", "ID"):
            continue
        names.add(type_.name)
        if is_enum_type(type_):
            names.update(type_.values)
        for field_name, field in getattr(type_, "fields", {}).items():
            names.add(field_name)
            names.update(getattr(field, "args", {}))
    return frozenset(names)


def without_hints(message: str, written: Collection[str], names: Collection[str]) -> str:
    """``message`` without suggestions, and with every quoted schema name that is not in
    ``written`` replaced by ``HIDDEN``."""

    def hide(match: re.Match[str]) -> str:
        found = _NAME.findall(match.group(1))
        secret = any(name in names and name not in written for name in found)
        return HIDDEN if secret else match.group(0)

    return _QUOTED.sub(hide, _SUGGESTION.sub("", message))


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


def _hidden(error: GraphQLError, written: frozenset[str], names: frozenset[str]) -> GraphQLError:
    if error.path is not None:
        return error
    message = without_hints(error.message, written, names)
    if message == error.message:
        return error
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        original_error=error.original_error,
        extensions=error.extensions,
    )
