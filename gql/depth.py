"""A query depth limit that also covers introspection.

Strawberry's ``QueryDepthLimiter`` skips every ``__``-prefixed field, but the
introspection types are the only cycle a client can nest through here
(``__type { fields { type { ofType { ofType ... } } } }``). This rule counts the depth of
every field with a selection set, following fragments (each at most once per path).
"""

from __future__ import annotations

from graphql import (
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


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """A validation rule refusing operations nested deeper than ``max_depth`` fields."""

    class DepthRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                node.name.value: node
                for node in document.definitions
                if isinstance(node, FragmentDefinitionNode)
            }
            for node in document.definitions:
                if isinstance(node, OperationDefinitionNode):
                    name = node.name.value if node.name else "anonymous"
                    if _depth(node.selection_set, fragments, frozenset(), max_depth) > max_depth:
                        context.report_error(
                            GraphQLError(
                                f"'{name}' exceeds maximum operation depth of {max_depth}", [node]
                            )
                        )

    return DepthRule


def _depth(
    selections: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
    limit: int,
) -> int:
    """Depth of ``selections``; stops descending once past ``limit``."""
    if selections is None or limit < 0:
        return 0
    deepest = 0
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.selection_set is not None:
                deepest = max(
                    deepest, 1 + _depth(selection.selection_set, fragments, seen, limit - 1)
                )
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen, limit))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                deepest = max(
                    deepest, _depth(fragment.selection_set, fragments, seen | {name}, limit)
                )
    return deepest
