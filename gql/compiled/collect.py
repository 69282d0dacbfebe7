"""Field collection for the compiled path: the spec's CollectFields, minus directives.

A selection set becomes an ordered ``{response key: [field nodes]}`` exactly as
graphql-core's executor groups it: fields in document order, inline fragments and named
fragment spreads flattened in place, each named fragment visited at most once per
collection, the sub-selections of every node under one key merged. Directives
(``@include``, ``@skip`` or any other) are not evaluated here: a selection carrying one
raises ``Unsupported`` and the operation runs the normal way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


class Unsupported(Exception):
    """The operation uses something the compiled path does not serve; execute normally."""


Fields = dict[str, list[FieldNode]]


def collect(
    selection_sets: Iterable[SelectionSetNode],
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> Fields:
    """The fields selected on an object of type ``type_name``, grouped by response key."""
    grouped: Fields = {}
    visited: set[str] = set()
    for selection_set in selection_sets:
        _visit(selection_set, type_name, fragments, grouped, visited)
    return grouped


def subfields(
    nodes: Iterable[FieldNode], type_name: str, fragments: Mapping[str, FragmentDefinitionNode]
) -> Fields:
    """The merged sub-selections of the field ``nodes`` that share one response key."""
    selection_sets = []
    for node in nodes:
        if node.selection_set is None:
            raise Unsupported(f"{node.name.value} has no selection")
        selection_sets.append(node.selection_set)
    return collect(selection_sets, type_name, fragments)


def _visit(
    selection_set: SelectionSetNode,
    type_name: str,
    fragments: Mapping[str, FragmentDefinitionNode],
    grouped: Fields,
    visited: set[str],
) -> None:
    for selection in selection_set.selections:
        if selection.directives:
            raise Unsupported("directive")
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != type_name:
                raise Unsupported("type condition")
            _visit(selection.selection_set, type_name, fragments, grouped, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments.get(name)
            if fragment is None or fragment.directives or fragment.variable_definitions:
                raise Unsupported("fragment")
            if fragment.type_condition.name.value != type_name:
                raise Unsupported("type condition")
            _visit(fragment.selection_set, type_name, fragments, grouped, visited)
        else:
            raise Unsupported(type(selection).__name__)
