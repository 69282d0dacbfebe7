"""Per-fragment results of a document, each fragment computed once.

A document may spread a fragment many times, and fragments may spread each other: 22
fragments each spreading the next twice are 2^22 paths, so a walk that follows every
spread does exponential work on a 1 KB document. ``by_fragment`` computes a value for
each fragment once, children before parents, from the values of the fragments it spreads;
every walk over a document (depth, aliases, cost) is then linear in its size.

A spread of an unknown fragment, or one closing a cycle, finds no value (the validation
rules KnownFragmentNames and NoFragmentCycles report those). The walk over spreads is
iterative, so chains of fragments as long as the token limit allows need no deep stack;
nesting within one definition is bounded by the parser (200 levels).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    SelectionSetNode,
)

T = TypeVar("T")


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    """The document's fragment definitions by name (the first of a duplicated name wins)."""
    found: dict[str, FragmentDefinitionNode] = {}
    for node in document.definitions:
        if isinstance(node, FragmentDefinitionNode):
            found.setdefault(node.name.value, node)
    return found


def spreads_in(selection_set: SelectionSetNode) -> Iterator[str]:
    """Names of the fragments spread anywhere within ``selection_set`` (not following them)."""
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                yield selection.name.value
            else:
                nested = selection.selection_set  # type: ignore[attr-defined]
                if nested is not None:
                    pending.append(nested)


def by_fragment(
    fragments: Mapping[str, FragmentDefinitionNode],
    value_of: Callable[[FragmentDefinitionNode, Mapping[str, T]], T],
) -> dict[str, T]:
    """``value_of(fragment, done)`` for every fragment, each after those it spreads.

    ``done`` holds the values computed so far; a spread that closes a cycle (or names no
    fragment) is missing from it, and ``value_of`` decides what that counts as.
    """
    done: dict[str, T] = {}
    children = {
        name: list(dict.fromkeys(spreads_in(node.selection_set)))
        for name, node in fragments.items()
    }
    for root in fragments:
        if root in done:
            continue
        path = [(root, iter(children[root]))]
        on_path = {root}
        while path:
            name, pending = path[-1]
            for child in pending:
                if child in fragments and child not in done and child not in on_path:
                    path.append((child, iter(children[child])))
                    on_path.add(child)
                    break
            else:
                path.pop()
                on_path.discard(name)
                done[name] = value_of(fragments[name], done)
    return done
