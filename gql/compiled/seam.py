"""Where the service reaches into Strawberry: every use of its internals, in one place.

Strawberry (pinned to one minor version in pyproject.toml) keeps private some of what the
compiled path and the hardening extensions need: the graphql-core schema it built, its
document validation and the names its resolvers' arguments have in Python. The rest of
the service reaches them only through these functions; a Strawberry upgrade that moves one
is mended here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry
from graphql import GraphQLSchema
from strawberry.schema.schema import validate_document

__all__ = ["graphql_schema", "python_arguments", "validate_document"]


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built for ``schema``."""
    return schema._schema


def python_arguments(
    schema: strawberry.Schema, type_name: str, field_name: str, arguments: Mapping[str, Any]
) -> dict[str, Any]:
    """``arguments`` of the field ``field_name`` of ``type_name`` (by GraphQL name, as
    graphql-core's ``get_argument_values`` returns them) by their resolver's parameter names,
    so the compiled path calls what the resolver calls with the same keywords."""
    field = schema.get_field_for_type(field_name, type_name)
    if field is None:
        raise LookupError(f"{type_name}.{field_name} is not in the schema")
    convert = schema.config.name_converter.from_argument
    names = {convert(argument): argument.python_name for argument in field.arguments}
    return {names[name]: value for name, value in arguments.items()}
