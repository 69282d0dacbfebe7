"""Hypothesis strategies: random GraphQL operations over ``records`` and ``latestPrices``,
with their variables.

Mostly what the compiled path serves (subsets and orders of fields, aliases, ``__typename``,
inline and named fragments, literal and variable arguments, both orders, paging forward
and backward (``first``/``after``, ``last``/``before``, windows between two cursors, pages
of 0), every ``pageInfo`` field, ids, ``totalCount``, a price's ``asset``), and now and
then what it must leave to normal execution: ``Record.asset``, ``Asset.sources``,
directives, another root field, bad arguments (``first`` with ``last`` among them) and
variables, documents that fail validation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

LEAVES = (
    "id",
    "source",
    "recordId",
    "value",
    "timestamp",
    "symbol",
    "name",
    "marketCap",
    "volume24h",
)
PRICE_LEAVES = ("id", "source", "recordId", "value", "timestamp")
ASSET_LEAVES = ("id", "symbol", "name")
ALIASES = ("a", "b", "x", "value", "node", "cursor")
"""Aliases; the ones that are also field names may clash (a validation error)."""
SOURCES = ("csv", "csv2", "coingecko", "COINPAPRIKA", " csv ")
RECORD_IDS = ("bitcoin", "BTC", "eth-ethereum", "tether", "")
ASSETS = ("bitcoin", "ethereum", "tether", "dogecoin")
SYMBOLS = ("btc", "ETH", "usdt", "Xyz")
TIMES = ("2024-05-01T02:00:00Z", "2024-05-01T03:00:00+02:00", "2024-05-01T04:00:00", "2024-04-30")
FIRSTS = (0, 1, 2, 5, 7, 48, 100, 1000, None)
PAGE_INFO = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor", "__typename")
BAD = {
    "first": (1001, -1),
    "last": (1001, -1),
    "order": ("SIDEWAYS",),
    "after": ("junk", "WyJrMSIsImFzYyJd"),
    "before": ("junk",),
    "source": (["nope"],),
    "since": ("not a time",),
    "asset": (["bit\u0000coin"], ["x"] * 101),
}
"""Values normal execution refuses (the compiled path must leave them to it)."""


@dataclass
class Operation:
    """One request: the document, its variables, the operationName sent, the method."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    method: str
    name: str | None
    """The operation the server runs (operationName, else the first operation's name)."""


@dataclass
class _Document:
    draw: st.DrawFn
    fragments: list[str] = field(default_factory=list)
    definitions: list[str] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    aliases: int = 0

    def chance(self, tenths: int) -> bool:
        return self.draw(st.integers(0, 9)) < tenths

    def rare(self) -> bool:
        return self.draw(st.integers(0, 29)) == 0

    def pick(self, values: tuple[Any, ...]) -> Any:
        return self.draw(st.sampled_from(values))

    def selection(self, items: list[str], type_name: str) -> str:
        """``items`` with some aliased, some grouped into inline or named fragments."""
        items = [self.alias(item) if self.chance(2) else item for item in items]
        if self.rare():
            at = self.draw(st.integers(0, len(items) - 1))
            head, brace, rest = items[at].partition(" {")
            directive = self.pick((" @include(if: true)", " @skip(if: false)"))
            items[at] = head + directive + brace + rest
        if len(items) > 1 and self.chance(5):
            start = self.draw(st.integers(0, len(items) - 1))
            end = self.draw(st.integers(start + 1, len(items)))
            chunk = " ".join(items[start:end])
            kind = self.draw(st.integers(0, 2))
            if kind == 0:
                grouped = f"... on {type_name} {{ {chunk} }}"
            elif kind == 1:
                grouped = f"... {{ {chunk} }}"
            else:
                name = f"F{len(self.fragments)}"
                self.fragments.append(f"fragment {name} on {type_name} {{ {chunk} }}")
                grouped = f"...{name}" + (f" ...{name}" if self.chance(2) else "")
            items[start:end] = [grouped]
        return " ".join(items)

    def alias(self, item: str) -> str:
        alias = self.pick(ALIASES)
        if self.chance(1):
            return f"{alias}: {item}"
        self.aliases += 1
        return f"{alias}{self.aliases}: {item}"

    def record(self) -> str:
        items = self.draw(
            st.lists(st.sampled_from((*LEAVES, "__typename")), min_size=1, max_size=7)
        )
        if self.rare():
            items.append("asset { id symbol }")
        return self.selection(items, "Record")

    def price(self) -> str:
        items = self.draw(
            st.lists(
                st.sampled_from((*PRICE_LEAVES, "__typename", "asset")), min_size=1, max_size=6
            )
        )
        items = [f"asset {{ {self.asset()} }}" if item == "asset" else item for item in items]
        return self.selection(items, "AssetPrice")

    def asset(self) -> str:
        items = self.draw(
            st.lists(st.sampled_from((*ASSET_LEAVES, "__typename")), min_size=1, max_size=4)
        )
        if self.rare():
            items.append("sources")
        return self.selection(items, "Asset")

    def connection(self) -> str:
        parts = []
        for _ in range(self.draw(st.integers(1, 4))):
            kind = self.draw(st.integers(0, 5))
            if kind == 0:
                edge = self.draw(
                    st.lists(
                        st.sampled_from(("cursor", "__typename", "node")), min_size=1, max_size=3
                    )
                )
                items = [f"node {{ {self.record()} }}" if item == "node" else item for item in edge]
                parts.append(f"edges {{ {self.selection(items, 'RecordEdge')} }}")
            elif kind in (1, 2):
                parts.append(f"nodes {{ {self.record()} }}")
            elif kind == 3:
                items = self.draw(
                    st.lists(
                        st.sampled_from(PAGE_INFO),
                        min_size=1,
                        max_size=5,
                    )
                )
                parts.append(f"pageInfo {{ {self.selection(items, 'PageInfo')} }}")
            else:
                parts.append(self.pick(("totalCount", "__typename")))
        return self.selection(parts, "RecordConnection")

    def argument(self, name: str, graphql_type: str, literal: str, value: Any) -> str:
        """``name: literal`` or ``name: $name`` with the variable declared (and maybe sent).

        Now and then the value is replaced by a bad one (``BAD``).
        """
        if name in BAD and self.rare():
            value = self.pick(BAD[name])
            literal = value if name == "order" else json.dumps(value)
        if not self.chance(5):
            return f"{name}: {literal}"
        default = f" = {literal}" if self.chance(2) else ""
        self.definitions.append(f"${name}: {graphql_type}{default}")
        if not default or self.chance(5):
            self.variables[name] = value
        return f"{name}: ${name}"

    def filters(self, lists: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
        chosen = []
        for name, values in lists:
            if self.chance(2):
                picked = self.draw(st.lists(st.sampled_from(values), max_size=3))
                literal = "[" + ", ".join(map(json.dumps, picked)) + "]"
                chosen.append(self.argument(name, "[String!]", literal, picked))
        return chosen

    def price_arguments(self) -> str:
        chosen = self.filters((("asset", ASSETS), ("symbol", SYMBOLS)))
        return f"({', '.join(chosen)})" if chosen else ""

    def arguments(self, cursors: dict[str, tuple[str, ...]]) -> str:
        chosen = []
        # first, last (now and then both: refused), or neither.
        sizes = self.pick((("first",), ("first",), ("last",), ("first", "last"), ()))
        for name in sizes if self.chance(8) or self.rare() else sizes[:1]:
            size = self.pick(FIRSTS)
            chosen.append(self.argument(name, "Int", json.dumps(size), size))
        order = self.pick(("ASC", "DESC", None)) if self.chance(4) else None
        if order is not None or self.chance(1):
            chosen.append(self.argument("order", "SortOrder", order or "null", order))
        for name in ("after", "before"):
            if self.chance(3):
                cursor = self.pick(cursors["asc" if order == "ASC" else "desc"])
                chosen.append(self.argument(name, "String", json.dumps(cursor), cursor))
        chosen += self.filters(
            (("source", SOURCES), ("recordId", RECORD_IDS), ("asset", ASSETS), ("symbol", SYMBOLS))
        )
        for name in ("since", "until"):
            if self.chance(2):
                stamp = self.pick(TIMES)
                chosen.append(self.argument(name, "DateTime", json.dumps(stamp), stamp))
        return f"({', '.join(chosen)})" if chosen else ""


@st.composite
def operations(draw: st.DrawFn, cursors: dict[str, tuple[str, ...]]) -> Operation:
    """A random request for ``records`` or ``latestPrices``; ``cursors`` are ``after``
    values by order."""
    doc = _Document(draw)
    if doc.chance(3):
        root = f"latestPrices{doc.price_arguments()} {{ {doc.price()} }}"
    else:
        root = f"records{doc.arguments(cursors)} {{ {doc.connection()} }}"
    if doc.chance(2):
        root = f"{doc.pick(('r', 'records', 'page'))}: {root}"
    roots = [root]
    if doc.chance(2):
        roots.insert(doc.draw(st.integers(0, 1)), "__typename")
    if doc.rare():
        roots.append(
            doc.pick(("health { db }", "stats { recordsTotal }", "other: records { totalCount }"))
        )
    body = "{ " + " ".join(roots) + " }"
    name = doc.pick(("Page", "records", None)) if not doc.definitions else doc.pick(("Page", "P2"))
    if doc.definitions:
        header = f"query {name}({', '.join(doc.definitions)}) "
    elif name is None:
        header = doc.pick(("", "query "))
    else:
        header = f"query {name} "
    operations_ = [header + body]
    if name is not None and doc.chance(2):
        operations_.insert(doc.draw(st.integers(0, 1)), "query Other { __typename }")
    query = "\n".join(operations_ + doc.fragments)
    sent = name if name is not None and doc.chance(8 if len(operations_) > 1 else 5) else None
    first_named = "Other" if operations_[0].startswith("query Other") else name
    return Operation(
        query=query,
        variables=doc.variables if doc.variables or doc.chance(5) else None,
        operation_name=sent,
        method="GET" if doc.chance(2) else "POST",
        name=sent if sent is not None else first_named,
    )
