"""Compile a validated ``records`` or ``latestPrices`` query into a plan, key by key.

A plan says, for every object in the response, its keys in response order and where
each value comes from: a column of the rows read (``Leaf``), a constant
(``__typename``), the row's cursor or ``id``, a nested object (``One``), one object per row
(``Rows``: ``edges``, ``nodes``, an edge's ``node``, the ``latestPrices`` list and each
price's ``asset``), ``pageInfo``'s four values or ``totalCount``. Compiling follows the
executor's rules (field collection in ``gql.compiled.collect``, the schema's types and
names); whatever a plan cannot describe raises ``Unsupported`` and the operation is
executed normally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
)

from kasparro.db.record import RecordRow
from kasparro.gql.compiled.collect import Fields, Unsupported, collect, subfields
from kasparro.gql.compiled.seam import graphql_schema

COLUMNS = RecordRow._fields
"""Column names of a record page row, by position (``db.record.RecordRow``)."""

RootField: TypeAlias = Literal["records", "latestPrices"]
"""The root fields the compiled path answers."""

_RECORD_COLUMNS = {name: name for name in COLUMNS}
_PRICE_COLUMNS = {name: name for name in ("source", "record_id", "value", "timestamp")}
_ASSET_COLUMNS = {"id": "asset_id", "symbol": "asset_symbol", "name": "asset_name"}
"""Python field name -> column of a ``db.queries.latest_prices`` row, for ``AssetPrice``
and its ``asset`` (the resolver builds the objects from the same columns)."""

LeafKind: TypeAlias = Literal["text", "float", "timestamp"]
_LEAF_KINDS: dict[str, LeafKind] = {"String": "text", "Float": "float", "DateTime": "timestamp"}


@dataclass(frozen=True, slots=True)
class Const:
    """A constant: the ``__typename`` of the object."""

    value: str


@dataclass(frozen=True, slots=True)
class Leaf:
    """A scalar read from the row's column named ``column``, serialized as ``kind``."""

    column: str
    kind: LeafKind
    nullable: bool


@dataclass(frozen=True, slots=True)
class Cursor:
    """The row's opaque cursor (``RecordEdge.cursor``)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The row's ``id`` (``gql.identity``): of a ``Record`` or of an ``AssetPrice``."""

    of: Literal["Record", "AssetPrice"]


@dataclass(frozen=True, slots=True)
class HasNext:
    """``PageInfo.hasNextPage``."""


@dataclass(frozen=True, slots=True)
class HasPrevious:
    """``PageInfo.hasPreviousPage``."""


@dataclass(frozen=True, slots=True)
class StartCursor:
    """``PageInfo.startCursor``."""


@dataclass(frozen=True, slots=True)
class EndCursor:
    """``PageInfo.endCursor``."""


@dataclass(frozen=True, slots=True)
class TotalCount:
    """``RecordConnection.totalCount``: a count query, made only when selected."""


@dataclass(frozen=True, slots=True)
class Shape:
    """An object: its response keys in order and, position by position, their values."""

    keys: tuple[str, ...]
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class One:
    """One nested object (the connection, ``pageInfo``)."""

    shape: Shape


@dataclass(frozen=True, slots=True)
class Rows:
    """One object per row read (``nodes``, ``edges``, an edge's ``node``, a price, its asset)."""

    shape: Shape


Part: TypeAlias = (
    Const
    | Leaf
    | Cursor
    | Identity
    | HasNext
    | HasPrevious
    | StartCursor
    | EndCursor
    | TotalCount
    | One
    | Rows
)
_PartOf: TypeAlias = Callable[[str, list[FieldNode]], Part]
"""What a field (its name and the nodes merged under one response key) becomes."""


_PAGE_INFO: dict[str, Part] = {
    "hasNextPage": HasNext(),
    "hasPreviousPage": HasPrevious(),
    "startCursor": StartCursor(),
    "endCursor": EndCursor(),
}


@dataclass(frozen=True, slots=True)
class Plan:
    """How to answer one operation of one document from the rows of one read."""

    document: DocumentNode
    """The whole document (its fragments count in the operation's cost, ``gql.cost``)."""
    operation: OperationDefinitionNode
    root_field: RootField
    field: FieldNode
    """The first node of the root field: its arguments are the read's arguments."""
    field_def: GraphQLField
    root: Shape
    counts: bool
    """Whether ``totalCount`` is selected (the count query runs only then)."""
    page_info: frozenset[str]
    """The ``pageInfo`` fields selected (the probe beyond the starting cursor, for the
    flag on that side, runs only when it is among them)."""


def compile_plan(
    schema: strawberry.Schema, document: DocumentNode, operation_name: str | None
) -> Plan:
    """The plan for ``operation_name`` in ``document``; ``Unsupported`` if there is none.

    ``document`` must have passed validation against ``schema``.
    """
    operation = _operation(document, operation_name)
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise Unsupported("not a plain query")
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    return _Compiler(schema, fragments).plan(document, operation)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    """The operation the executor would run (graphql-core's rules)."""
    operations = [
        node for node in document.definitions if isinstance(node, OperationDefinitionNode)
    ]
    if name is None:
        if len(operations) != 1:
            raise Unsupported("which operation")
        return operations[0]
    for operation in operations:
        if operation.name is not None and operation.name.value == name:
            return operation
    raise Unsupported("unknown operation")


class _Compiler:
    def __init__(
        self, schema: strawberry.Schema, fragments: dict[str, FragmentDefinitionNode]
    ) -> None:
        self._strawberry = schema
        self._schema: GraphQLSchema = graphql_schema(schema)
        self._fragments = fragments
        self._counts = False
        self._page_info: set[str] = set()

    def plan(self, document: DocumentNode, operation: OperationDefinitionNode) -> Plan:
        query = self._schema.query_type
        assert query is not None
        grouped = collect([operation.selection_set], query.name, self._fragments)
        roots = [nodes for nodes in grouped.values() if nodes[0].name.value != "__typename"]
        if len(roots) != 1:
            raise Unsupported("not one root field")
        root_field: RootField
        match roots[0][0].name.value:
            case "records":
                root_field = "records"
            case "latestPrices":
                root_field = "latestPrices"
            case other:
                raise Unsupported(f"root field {other}")
        field_def = query.fields[root_field]

        def root_part(name: str, nodes: list[FieldNode]) -> Part:
            if name == "records":
                return One(self._shape(nodes, field_def, self._connection_part))
            return Rows(self._shape(nodes, field_def, self._price_part))

        root = self._object(grouped, query, root_part)
        return Plan(
            document,
            operation,
            root_field,
            roots[0][0],
            field_def,
            root,
            self._counts,
            frozenset(self._page_info),
        )

    def _object(self, grouped: Fields, type_: GraphQLObjectType, part_of: _PartOf) -> Shape:
        parts: list[Part] = []
        for nodes in grouped.values():
            name = nodes[0].name.value
            parts.append(Const(type_.name) if name == "__typename" else part_of(name, nodes))
        return Shape(tuple(grouped), tuple(parts))

    def _shape(self, nodes: list[FieldNode], field_def: GraphQLField, part_of: _PartOf) -> Shape:
        type_ = get_named_type(field_def.type)
        assert isinstance(type_, GraphQLObjectType)
        return self._object(subfields(nodes, type_.name, self._fragments), type_, part_of)

    def _connection_part(self, name: str, nodes: list[FieldNode]) -> Part:
        fields = self._type_of("records").fields
        if name == "edges":
            return Rows(self._shape(nodes, fields[name], self._edge_part))
        if name == "nodes":
            return Rows(self._shape(nodes, fields[name], self._record_part))
        if name == "pageInfo":
            return One(self._shape(nodes, fields[name], self._page_info_part))
        if name == "totalCount":
            self._counts = True
            return TotalCount()
        raise Unsupported(f"RecordConnection.{name}")

    def _edge_part(self, name: str, nodes: list[FieldNode]) -> Part:
        if name == "cursor":
            return Cursor()
        if name == "node":
            edge = get_named_type(self._type_of("records").fields["edges"].type)
            assert isinstance(edge, GraphQLObjectType)
            return Rows(self._shape(nodes, edge.fields[name], self._record_part))
        raise Unsupported(f"RecordEdge.{name}")

    def _page_info_part(self, name: str, nodes: list[FieldNode]) -> Part:
        part = _PAGE_INFO.get(name)
        if part is None:
            raise Unsupported(f"PageInfo.{name}")
        self._page_info.add(name)
        return part

    def _record_part(self, name: str, nodes: list[FieldNode]) -> Part:
        record = get_named_type(self._type_of("records").fields["nodes"].type)
        assert isinstance(record, GraphQLObjectType)
        if name == "id":
            return Identity("Record")
        return self._leaf(record, name, _RECORD_COLUMNS)

    def _price_part(self, name: str, nodes: list[FieldNode]) -> Part:
        price = self._type_of("latestPrices")
        if name == "asset":
            return Rows(self._shape(nodes, price.fields[name], self._asset_part))
        if name == "id":
            return Identity("AssetPrice")
        return self._leaf(price, name, _PRICE_COLUMNS)

    def _asset_part(self, name: str, nodes: list[FieldNode]) -> Part:
        asset = get_named_type(self._type_of("latestPrices").fields["asset"].type)
        assert isinstance(asset, GraphQLObjectType)
        return self._leaf(asset, name, _ASSET_COLUMNS)

    def _leaf(self, type_: GraphQLObjectType, name: str, columns: Mapping[str, str]) -> Leaf:
        """The field ``name`` of ``type_`` as a column of the rows; Unsupported if resolved."""
        field = self._strawberry.get_field_for_type(name, type_.name)
        if field is None or field.base_resolver is not None or field.python_name not in columns:
            raise Unsupported(f"{type_.name}.{name} is resolved")
        graphql_type = type_.fields[name].type
        kind = _LEAF_KINDS.get(get_named_type(graphql_type).name)
        if kind is None:
            raise Unsupported(f"{type_.name}.{name} is not a plain scalar")
        nullable = not isinstance(graphql_type, GraphQLNonNull)
        return Leaf(columns[field.python_name], kind, nullable)

    def _type_of(self, root_field: str) -> GraphQLObjectType:
        query = self._schema.query_type
        assert query is not None
        type_ = get_named_type(query.fields[root_field].type)
        assert isinstance(type_, GraphQLObjectType)
        return type_
