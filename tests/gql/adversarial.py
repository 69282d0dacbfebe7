"""Adversarial GraphQL documents by family, each with what validation must say about it.

Every generator returns a ``Case``: the document, the errors the service's own rules must
report with the default limits (depth 15, 30 aliases) and the further errors graphql-core's
rules add (a cycle, or ``ABORTED`` where graphql-core gives up: fragments nested more than
200 deep, or field merging past its budget). Expected counts are closed forms (a chain of
n fragments each spreading the next twice and holding one alias has 2^n - 1 aliases),
never a walk over the document, so they check the memoised rules.

Also here: ``FULL_PAGE``, the costliest ordinary query, and ``AMPLIFIED``, the amplification
the cost limit refuses.

Families: fragment graphs (chains with fan-out, complete DAGs, diamonds, cycles), depth
through fragments and through nesting, aliases, fields repeated under one response key,
wide selections, large literals and lists, many operations. ``worst_cases()`` gives the
largest document of each family within the token and size limits; the benchmark
(``bench/bench_validation.py``) times them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from graphql import Lexer, Source, TokenKind

from kasparro.gql.rules import ABORTED

RECORD = "source recordId value timestamp symbol name marketCap volume24h"
EVERY_FIELD = f"{RECORD} asset {{ id symbol name sources }}"
FULL_PAGE = (
    "{ records(first: 1000) { totalCount pageInfo { hasNextPage endCursor } "
    f"edges {{ cursor node {{ {EVERY_FIELD} }} }} nodes {{ {EVERY_FIELD} }} }} }}"
)
"""The costliest ordinary query: a 1000-row page of every field, through edges and nodes."""
AMPLIFIED = (
    "{ "
    + " ".join(
        f"a{i}: records(first: 1000) {{ nodes {{ {RECORD} asset {{ id symbol name }} }} }}"
        for i in range(30)
    )
    + " }"
)
"""The issue's amplification: 30 aliases of a 1000-row page with each record's asset."""

MAX_DEPTH = 15
MAX_ALIASES = 30
MAX_TOKENS = 5000
MAX_QUERY_BYTES = 65_536
SHOWN = 1_000_000


@dataclass(frozen=True)
class Case:
    """A document, what the depth and alias rules report about it, and what graphql-core's
    rules report after them (all of them: ``errors + extra``)."""

    family: str
    query: str
    errors: tuple[str, ...]
    extra: tuple[str, ...] = ()

    @property
    def all_errors(self) -> tuple[str, ...]:
        return self.errors + self.extra


def aliases_error(count: int) -> tuple[str, ...]:
    """What the alias rule says about ``count`` aliases (nothing when within the limit)."""
    if count <= MAX_ALIASES:
        return ()
    shown = str(count) if count <= SHOWN else f"over {SHOWN}"
    return (f"{shown} aliases found. Allowed: {MAX_ALIASES}",)


def depth_error(depth: int, name: str = "anonymous") -> tuple[str, ...]:
    if depth <= MAX_DEPTH:
        return ()
    return (f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}",)


def chain(length: int, fanout: int, aliased: bool) -> Case:
    """F0 spreads F1 ``fanout`` times, F1 spreads F2…: fanout^(length-1) paths.

    Each fragment holds ``__typename`` (``t: __typename`` when ``aliased``), so there are
    1 + fanout + … + fanout^(length-1) aliases.
    """
    leaf = "t: __typename" if aliased else "__typename"
    spreads = [" ".join([f"...F{i + 1}"] * fanout) for i in range(length - 1)] + [""]
    fragments = [f"fragment F{i} on Query {{ {leaf} {spreads[i]} }}" for i in range(length)]
    aliases = sum(fanout**i for i in range(length)) if aliased else 0
    query = "{ ...F0 }\n" + "\n".join(fragments)
    return Case(f"chain-{length}x{fanout}", query, aliases_error(aliases))


def complete_dag(size: int) -> Case:
    """F_i spreads every F_j with j > i, each holding one alias: 2^(size-1) aliases."""
    fragments = [
        f"fragment F{i} on Query {{ t: __typename "
        + " ".join(f"...F{j}" for j in range(i + 1, size))
        + " }"
        for i in range(size)
    ]
    query = "{ ...F0 }\n" + "\n".join(fragments)
    return Case(f"dag-{size}", query, aliases_error(2 ** (size - 1)))


def diamonds(size: int) -> Case:
    """F_i spreads L_i and R_i, which both spread F_(i+1): 2^size paths.

    L and R hold one alias each, F none: F_0 has 2^(size+1) - 2 aliases.
    """
    parts = []
    for i in range(size):
        parts.append(f"fragment F{i} on Query {{ __typename ...L{i} ...R{i} }}")
        parts.append(f"fragment L{i} on Query {{ l: __typename ...F{i + 1} }}")
        parts.append(f"fragment R{i} on Query {{ r: __typename ...F{i + 1} }}")
    parts.append(f"fragment F{size} on Query {{ __typename }}")
    query = "{ ...F0 }\n" + "\n".join(parts)
    return Case(f"diamonds-{size}", query, aliases_error(2 ** (size + 1) - 2))


def cycle(length: int) -> Case:
    """F0 → F1 → … → F0: graphql-core reports the cycle; no rule may loop over it."""
    fragments = [
        f"fragment F{i} on Query {{ __typename ...F{(i + 1) % length} }}" for i in range(length)
    ]
    via = ", ".join(f"'F{i}'" for i in range(1, length))
    message = f"Cannot spread fragment 'F0' within itself{f' via {via}' if via else ''}."
    return Case(f"cycle-{length}", "{ ...F0 }\n" + "\n".join(fragments), (), (message,))


def depth_through_fragments(levels: int) -> Case:
    """``__type`` then ``levels`` of ``ofType``, each in its own fragment: depth 1 + levels."""
    fragments = [
        f"fragment T{i} on __Type {{ name ofType {{ ...T{i + 1} }} }}" for i in range(levels)
    ]
    fragments.append(f"fragment T{levels} on __Type {{ name }}")
    query = '{ __type(name: "Query") { ...T0 } }\n' + "\n".join(fragments)
    return Case(f"depth-fragments-{levels}", query, depth_error(1 + levels))


def depth_nested(levels: int) -> Case:
    """``__type`` then ``levels`` nested ``ofType`` written out: depth 1 + levels."""
    inner = "ofType { " * levels + "name" + " }" * levels
    query = f'{{ __type(name: "Query") {{ {inner} }} }}'
    return Case(f"depth-nested-{levels}", query, depth_error(1 + levels))


def flat_aliases(count: int) -> Case:
    body = " ".join(f"a{i}: __typename" for i in range(count))
    return Case(f"aliases-{count}", f"{{ {body} }}", aliases_error(count))


def repeated_fields(count: int) -> Case:
    """``records { nodes { source } }`` ``count`` times: one response key, so field merging
    compares them pairwise (valid, unless its budget runs out)."""
    return Case(f"repeated-{count}", "{ " + "records { nodes { source } } " * count + "}", ())


def repeated_in_fragments(count: int) -> Case:
    """``count`` fragments each selecting ``records { nodes { source } }``, all spread at the
    root: field merging compares every pair of fragments."""
    spreads = " ".join(f"...F{i}" for i in range(count))
    fragments = "\n".join(
        f"fragment F{i} on Query {{ records {{ nodes {{ source }} }} }}" for i in range(count)
    )
    return Case(f"repeated-fragments-{count}", f"{{ {spreads} }}\n{fragments}", ())


def wide_leaves(count: int) -> Case:
    """One selection set of ``count`` leaves, two names alternating."""
    leaves = " ".join(("db", "etlLastRun")[i % 2] for i in range(count))
    return Case(f"wide-{count}", f"{{ health {{ {leaves} }} }}", ())


def big_literal(size: int) -> Case:
    """A string literal of ``size`` characters (the resolver refuses values over 200
    characters; validation has nothing to say)."""
    return Case(f"literal-{size}", f'{{ assets(symbol: "{"y" * size}") {{ id }} }}', ())


def big_list(count: int) -> Case:
    values = ", ".join('"btc"' for _ in range(count))
    return Case(f"list-{count}", f"{{ latestPrices(symbol: [{values}]) {{ value }} }}", ())


def many_operations(count: int) -> Case:
    """``count`` named operations sharing one fragment."""
    operations = "\n".join(f"query Q{i} {{ ...F }}" for i in range(count))
    query = operations + "\nfragment F on Query { health { db } }"
    return Case(f"operations-{count}", query, ())


def fits(query: str) -> bool:
    """Whether ``query`` is within the default token and size limits."""
    if len(query.encode()) > MAX_QUERY_BYTES:
        return False
    lexer = Lexer(Source(query))
    return any(lexer.advance().kind is TokenKind.EOF for _ in range(MAX_TOKENS + 1))


def largest(make: Callable[[int], Case], high: int | None = None) -> Case:
    """``make(n)`` for the largest n (at least 1, at most ``high``) whose document fits the
    limits: doubling n until it does not, then halving the gap."""
    low = 1
    if high is None:
        high = 2
        while fits(make(high).query):
            low, high = high, 2 * high
        high -= 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(make(middle).query):
            low = middle
        else:
            high = middle - 1
    return make(low)


def aborted(case: Case) -> Case:
    """``case``, where graphql-core gives up validating it (``ABORTED`` instead of its own
    further errors)."""
    return replace(case, extra=(ABORTED,))


def worst_cases() -> Iterator[Case]:
    """The largest document of each family within the default limits.

    Fragment chains this long nest more than 200 deep, and this many fields under one
    key or fragments side by side outrun the merge budget: graphql-core aborts those.
    """
    yield aborted(largest(lambda n: chain(n, 1, aliased=False)))
    yield aborted(largest(lambda n: chain(n, 2, aliased=False)))
    yield aborted(largest(lambda n: chain(n, 2, aliased=True)))
    yield aborted(largest(complete_dag))
    yield aborted(largest(diamonds))
    yield aborted(largest(cycle))
    yield aborted(largest(depth_through_fragments))
    yield largest(depth_nested, high=190)  # the parser refuses nesting past 200 levels
    yield largest(flat_aliases)
    yield aborted(largest(repeated_fields))
    yield aborted(largest(repeated_in_fragments))
    yield aborted(largest(wide_leaves))
    yield largest(big_literal)
    yield largest(big_list)
    yield largest(many_operations)
