"""Depth and alias limits, in one pass that is linear in the document.

Depth counts every field with a selection set, introspection included: Strawberry's
``QueryDepthLimiter`` skips every ``__``-prefixed field, but the introspection types are the
only cycle a client can nest through here (``__type { fields { type { ofType … } } }``).
Aliases are counted as Strawberry's ``MaxAliasesLimiter`` counts them (every aliased field of
every operation, a fragment's aliases once per spread) and reported in its words.

Both used to follow every fragment spread again, through every fragment below it: 22
fragments each spreading the next twice are 2^22 paths, seconds of work for a 1 KB
document. Here each fragment's ``Shape`` is computed once (``gql.fragments``), so the rule
does work proportional to the document, however fragments spread each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from kasparro.gql.fragments import by_fragment, fragments_of

SHOWN = 1_000_000
"""Larger alias counts (fragments doubling each other reach 2^1000) are said as "over"."""


@dataclass(frozen=True, slots=True)
class Shape:
    """Of a selection set: its deepest path of fields with selections, and its aliases."""

    depth: int = 0
    aliases: int = 0


def shape_rule(max_depth: int, max_aliases: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than ``max_depth`` fields, and
    documents with more than ``max_aliases`` aliases."""

    class ShapeRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            aliases = 0
            for node, found in operation_shapes(context.document):
                aliases += found.aliases
                if found.depth > max_depth:
                    name = node.name.value if node.name else "anonymous"
                    message = f"'{name}' exceeds maximum operation depth of {max_depth}"
                    context.report_error(GraphQLError(message, [node]))
            if aliases > max_aliases:
                context.report_error(GraphQLError(aliases_message(aliases, max_aliases)))

    return ShapeRule


def operation_shapes(document: DocumentNode) -> list[tuple[OperationDefinitionNode, Shape]]:
    """Each operation of ``document`` with its shape (fragments computed once)."""
    fragments = by_fragment(fragments_of(document), _fragment_shape)
    return [
        (node, shape(node.selection_set, fragments))
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
    ]


def aliases_message(aliases: int, max_aliases: int) -> str:
    """The refusal of ``aliases`` over MAX_QUERY_ALIASES, in ``MaxAliasesLimiter``'s words."""
    shown = aliases if aliases <= SHOWN else f"over {SHOWN}"
    return f"{shown} aliases found. Allowed: {max_aliases}"


def _fragment_shape(fragment: FragmentDefinitionNode, done: Mapping[str, Shape]) -> Shape:
    return shape(fragment.selection_set, done)


def shape(selections: SelectionSetNode, fragments: Mapping[str, Shape]) -> Shape:
    """The ``Shape`` of ``selections``; a spread adds its fragment's from ``fragments``
    (nothing when it has none: an unknown fragment, or one closing a cycle)."""
    depth = aliases = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            aliases += selection.alias is not None
            if selection.selection_set is not None:
                below = shape(selection.selection_set, fragments)
                depth, aliases = max(depth, 1 + below.depth), aliases + below.aliases
        elif isinstance(selection, InlineFragmentNode):
            below = shape(selection.selection_set, fragments)
            depth, aliases = max(depth, below.depth), aliases + below.aliases
        elif isinstance(selection, FragmentSpreadNode):
            below = fragments.get(selection.name.value, Shape())
            depth, aliases = max(depth, below.depth), aliases + below.aliases
    return Shape(depth, aliases)
