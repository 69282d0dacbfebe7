"""Query cost: how many values an answer will hold, estimated before anything runs.

The cost of an operation is the number of values its answer would hold: every selected
field counts 1 for each object it is selected on, and a list multiplies what is selected
below it by its estimated length. ``records(first: N)`` pages hold N rows (``first``, or
``last``, as sent, from a variable; null or left out is DEFAULT_PAGE_SIZE; at most
MAX_PAGE_SIZE), so 30 aliases of ``records(first: 1000) { nodes { … 12 fields … } }`` cost
about 360,000. The other lists (``estimates``):

- ``etlRuns``, ``assets``, ``SourceRun.rejects``: ``first`` (20 / 100 / 10 by default; at most
  100 / MAX_PAGE_SIZE / 100);
- ``latestPrices``: ``LATEST_PRICES_ROWS`` (one row per asset and source a run of the
  default sources stores), or ``len(KNOWN_SOURCES)`` rows per ``asset``/``symbol`` value;
- ``consensus``: its ``LATEST_PRICES_ROWS`` quotes as ``len(KNOWN_SOURCES)`` quotes of
  ``LATEST_PRICES_ROWS / len(KNOWN_SOURCES)`` assets (most assets have fewer quotes, and
  the quotes are most of the answer), or one asset per ``asset``/``symbol`` value;
  ``divergences``, ``candles``: ``first`` (100 / 500 by default; at most MAX_PAGE_SIZE);
- a source list (``Asset.sources``, ``EtlRun.sources``, ``Stats.sources``,
  ``Consensus.quotes``, ``Candle.sources``): ``len(KNOWN_SOURCES)``;
- introspection lists: their average length in this schema (``__Schema.types`` is the
  number of types, ``__Type.fields`` the fields per type, ``__Field.args`` the arguments
  per field…), so a full introspection costs about what its answer holds;
- any other list: MAX_PAGE_SIZE.

Within a selection set, fields under one response key are merged and a fragment spread
twice counts once, as the executor does; but a fragment's cost is its own (computed once,
``gql.fragments``), so fields it shares with its surroundings count twice, as do fields
under ``@skip``/``@include``: an estimate, on the safe side, linear in the document. The
arithmetic saturates at ``COST_CAP``.

``QueryCost.check`` is the whole test; ``CostLimit`` runs it in ``on_execute`` before
anything else executes (the compiled path included), and the compiled path's view
shortcut runs it too (``gql.compiled.fastpath``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_argument_values,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    get_variable_values,
    is_abstract_type,
    is_enum_type,
    is_input_object_type,
    is_interface_type,
    is_list_type,
    is_object_type,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.execution.values import VariableValues
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry.extensions import SchemaExtension

from kasparro.db.queries import REJECT_RAW_SHOWN
from kasparro.etl.config import KNOWN_SOURCES
from kasparro.gql.compiled.seam import graphql_schema
from kasparro.gql.config import AppConfig
from kasparro.gql.errors import QueryTooCostly
from kasparro.gql.fragments import by_fragment, fragments_of
from kasparro.gql.products import CANDLES_DEFAULT, DIVERGENCES_DEFAULT
from kasparro.gql.resolvers import RUNS_MAXIMUM
from kasparro.gql.types import REJECTS_MAXIMUM

COST_CAP = 10**12
TEXT_UNIT_CHARS = 20
LONG_TEXT = {("Reject", "raw"): REJECT_RAW_SHOWN // TEXT_UNIT_CHARS}
"""Leaves that may hold long text count one unit per ``TEXT_UNIT_CHARS`` characters they
may hold, not one: a reject's raw text is up to ``REJECT_RAW_SHOWN`` characters."""
LATEST_PRICES_ROWS = 3000
"""About one latest price per asset and source after a run of the default sources:
CoinPaprika's ~2,500 tickers, CoinGecko's 250 per page, the CSVs' coins."""


@dataclass(frozen=True, slots=True)
class Cost:
    """``fixed + per_row * page size``: the page size is that of the enclosing connection
    (its ``nodes`` and ``edges`` hold one item per row); a connection field closes it."""

    fixed: int = 0
    per_row: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(_cap(self.fixed + other.fixed), _cap(self.per_row + other.per_row))

    def times(self, count: int) -> Cost:
        return Cost(_cap(self.fixed * count), _cap(self.per_row * count))

    def closed(self, rows: int) -> int:
        """The cost once the page size is known."""
        return _cap(self.fixed + self.per_row * rows)


def _cap(value: int) -> int:
    return min(value, COST_CAP)


@dataclass(frozen=True, slots=True)
class Items:
    """A list of ``count`` items, or of what the arguments ``argument`` ask (the largest of
    those given; ``count`` when all are null), clamped to 0…``maximum``."""

    count: int
    argument: tuple[str, ...] = ()
    maximum: int = 0

    def size(self, arguments: Mapping[str, Any] | None) -> int:
        if not self.argument:
            return self.count
        if arguments is None:  # cannot be read here; execution will say why
            return self.maximum
        asked = [value for name in self.argument if isinstance(value := arguments.get(name), int)]
        return min(max(max(asked) if asked else self.count, 0), self.maximum)


@dataclass(frozen=True, slots=True)
class Filtered:
    """``count`` items, or ``per_value`` per value of the ``filters`` when any is given."""

    count: int
    per_value: int
    filters: tuple[str, ...]

    def size(self, arguments: Mapping[str, Any] | None) -> int:
        if arguments is None:
            return self.count
        values = sum(len(arguments.get(name) or ()) for name in self.filters)
        return min(values * self.per_value, self.count) if values else self.count


@dataclass(frozen=True, slots=True)
class Page:
    """A connection: its page lists hold ``size`` rows."""

    size: Items


@dataclass(frozen=True, slots=True)
class PerRow:
    """A page list (``nodes``, ``edges``): one item per row of the enclosing connection."""


Estimate: TypeAlias = Items | Filtered | Page | PerRow


def estimates(config: AppConfig, schema: GraphQLSchema) -> dict[tuple[str, str], Estimate]:
    """The estimate of every list field (and connection) of ``schema``, by (type, field)."""
    pages = Items(config.default_page_size, ("first",), config.max_page_size)
    sources = Items(len(KNOWN_SOURCES))
    found: dict[tuple[str, str], Estimate] = {
        ("Query", "records"): Page(
            Items(config.default_page_size, ("first", "last"), config.max_page_size)
        ),
        ("RecordConnection", "nodes"): PerRow(),
        ("RecordConnection", "edges"): PerRow(),
        ("Query", "etlRuns"): Items(20, ("first",), RUNS_MAXIMUM),
        ("SourceRun", "rejects"): Items(10, ("first",), REJECTS_MAXIMUM),
        ("Query", "assets"): pages,
        ("Query", "latestPrices"): Filtered(
            LATEST_PRICES_ROWS, len(KNOWN_SOURCES), ("asset", "symbol")
        ),
        ("Asset", "sources"): sources,
        ("EtlRun", "sources"): sources,
        ("Stats", "sources"): sources,
        ("Query", "consensus"): Filtered(
            LATEST_PRICES_ROWS // len(KNOWN_SOURCES), 1, ("asset", "symbol")
        ),
        ("Query", "divergences"): Items(DIVERGENCES_DEFAULT, ("first",), config.max_page_size),
        ("Consensus", "quotes"): sources,
        ("Query", "candles"): Items(CANDLES_DEFAULT, ("first",), config.max_page_size),
        ("Candle", "sources"): sources,
    }
    found.update(_introspection(schema))
    return found


def _introspection(schema: GraphQLSchema) -> Iterator[tuple[tuple[str, str], Items]]:
    """Average lengths of the introspection lists over this schema."""
    types = list(schema.type_map.values())
    outputs = [type_ for type_ in types if is_object_type(type_) or is_interface_type(type_)]
    fields = [field for type_ in outputs for field in type_.fields.values()]
    directives = schema.directives

    def mean(total: int, over: int) -> Items:
        return Items(math.ceil(total / over) if over else 0)

    def per_type(total: int) -> Items:
        return mean(total, len(types))

    yield ("__Schema", "types"), Items(len(types))
    yield ("__Schema", "directives"), Items(len(directives))
    yield ("__Type", "fields"), per_type(len(fields))
    yield (
        ("__Type", "interfaces"),
        per_type(sum(len(type_.interfaces) for type_ in outputs)),
    )
    yield (
        ("__Type", "possibleTypes"),
        per_type(
            sum(len(schema.get_possible_types(type_)) for type_ in types if is_abstract_type(type_))
        ),
    )
    yield (
        ("__Type", "inputFields"),
        per_type(sum(len(type_.fields) for type_ in types if is_input_object_type(type_))),
    )
    yield (
        ("__Type", "enumValues"),
        per_type(sum(len(type_.values) for type_ in types if is_enum_type(type_))),
    )
    yield ("__Field", "args"), mean(sum(len(field.args) for field in fields), len(fields))
    yield (
        ("__Directive", "args"),
        mean(sum(len(directive.args) for directive in directives), len(directives)),
    )
    yield (
        ("__Directive", "locations"),
        mean(sum(len(directive.locations) for directive in directives), len(directives)),
    )


class QueryCost:
    """The cost limit of one application (MAX_QUERY_COST)."""

    def __init__(self, config: AppConfig) -> None:
        self._config = config
        self.limit = config.max_query_cost
        self._estimates: dict[tuple[str, str], Estimate] | None = None

    def estimate(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> int | None:
        """The cost of ``operation`` of ``document``; None when its variables do not coerce
        (execution then answers with the errors)."""
        coerced = get_variable_values(
            schema, operation.variable_definitions or (), dict(variables or {})
        )
        if isinstance(coerced, list):
            return None
        if self._estimates is None:
            self._estimates = estimates(self._config, schema)
        walk = _Walk(schema, self._estimates, coerced, self._config.max_page_size)
        fragments = by_fragment(fragments_of(document), walk.fragment)
        root = schema.get_root_type(operation.operation)
        if root is None:
            return None
        return walk.selections([operation.selection_set], root, fragments).closed(0)

    def check(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> GraphQLError | None:
        """The error refusing ``operation`` when its cost is over the limit, else None."""
        cost = self.estimate(schema, document, operation, variables)
        if cost is None or cost <= self.limit:
            return None
        shown = f"{cost:,}" if cost < COST_CAP else f"over {COST_CAP:,}"
        message = (
            f"query too costly: its estimated cost is {shown}, over the limit of "
            f"{self.limit:,} (MAX_QUERY_COST; about one unit per value in the answer); ask "
            "for fewer rows (first), fewer fields or fewer aliases, or split the query"
        )
        return GraphQLError(message, original_error=QueryTooCostly(message))


class _Walk:
    """Costs selection sets of one operation, with its coerced variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        estimates: Mapping[tuple[str, str], Estimate],
        variables: VariableValues,
        max_rows: int,
    ) -> None:
        self._schema = schema
        self._estimates = estimates
        self._variables = variables
        self._max_rows = max_rows

    def fragment(self, fragment: FragmentDefinitionNode, done: Mapping[str, Cost]) -> Cost:
        type_ = self._schema.get_type(fragment.type_condition.name.value)
        if type_ is None:
            return Cost()
        return self.selections([fragment.selection_set], type_, done)

    def selections(
        self,
        nodes: Sequence[SelectionSetNode],
        parent: GraphQLNamedType,
        fragments: Mapping[str, Cost],
    ) -> Cost:
        """The cost of ``nodes`` merged into one object, as the executor merges them: fields
        grouped by response key (inline fragments on the same type flattened in), each
        fragment once."""
        total = Cost()
        grouped: dict[str, list[FieldNode]] = {}
        spread: set[str] = set()
        pending = [selection for node in nodes for selection in node.selections]
        while pending:
            selection = pending.pop()
            if isinstance(selection, FieldNode):
                grouped.setdefault((selection.alias or selection.name).value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                type_ = self._schema.get_type(condition.name.value) if condition else parent
                if type_ is parent:
                    pending.extend(selection.selection_set.selections)
                elif type_ is not None:
                    total += self.selections([selection.selection_set], type_, fragments)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in spread:
                    spread.add(name)
                    total += fragments.get(name, Cost())
        for group in grouped.values():
            total += self._field(group, parent, fragments)
        return total

    def _field(
        self, nodes: list[FieldNode], parent: GraphQLNamedType, fragments: Mapping[str, Cost]
    ) -> Cost:
        """The cost of the field ``nodes`` (one response key) on one ``parent`` object."""
        node = nodes[0]
        name = node.name.value
        definition = self._definition(parent, name)
        if definition is None:  # __typename, or a field validation refuses
            return Cost(1)
        below = [each.selection_set for each in nodes if each.selection_set is not None]
        leaf = Cost(LONG_TEXT.get((parent.name, name), 1))
        item = leaf
        if below:
            item = self.selections(below, get_named_type(definition.type), fragments)
        estimate = self._estimates.get((parent.name, name))
        if isinstance(estimate, Page):
            return Cost(1 + item.closed(estimate.size.size(self._arguments(definition, node))))
        if isinstance(estimate, PerRow):
            return Cost(1, item.closed(self._max_rows))
        if not is_list_type(get_nullable_type(definition.type)):
            return item + Cost(1) if below else leaf
        if estimate is None:
            return Cost(1) + item.times(self._max_rows)
        return Cost(1) + item.times(estimate.size(self._arguments(definition, node)))

    def _definition(self, parent: GraphQLNamedType, name: str) -> GraphQLField | None:
        if name == "__schema" and parent is self._schema.query_type:
            return SchemaMetaFieldDef
        if name == "__type" and parent is self._schema.query_type:
            return TypeMetaFieldDef
        fields: dict[str, GraphQLField] = getattr(parent, "fields", {})
        return fields.get(name)

    def _arguments(self, definition: GraphQLField, node: FieldNode) -> dict[str, Any] | None:
        try:
            return get_argument_values(definition, node, self._variables)
        except GraphQLError:
            return None


class CostLimit(SchemaExtension):
    """Refuses an operation over MAX_QUERY_COST before it executes (``QueryCost.check``).

    Built per request from ``functools.partial(CostLimit, cost)``; it must come before
    every extension that may answer in ``on_execute`` (``gql.compiled``).
    """

    def __init__(self, cost: QueryCost) -> None:
        super().__init__()
        self._cost = cost

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if execution.result is None and document is not None:
            # The operation Strawberry runs: the one named, else the first.
            operation = get_operation_ast(document, execution.operation_name)
            if operation is not None:
                error = self._cost.check(
                    graphql_schema(execution.schema), document, operation, execution.variables
                )
                if error is not None and operation.operation is OperationType.SUBSCRIPTION:
                    # Strawberry subscribes whatever ``result`` holds; what this hook raises
                    # is answered instead (a `next` with the error, then `complete`).
                    raise error
                if error is not None:
                    execution.result = GraphQLExecutionResult(data=None, errors=[error])
        yield
