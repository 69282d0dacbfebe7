"""HTTP caching of GET queries whose answer changes only with the store's latest prices.

``latestPrices`` is built from ``latest_records``, and every change of that table moves
the ``latest_version`` counter (``db.latest``), the same counter ``db.latest_cache`` keeps
its answer by. So a GET query whose root fields are only ``latestPrices`` and
introspection (``CACHEABLE_ROOTS``) gets ``ETag: W/"<version>.<token>.<media>"`` and
``Cache-Control: public, max-age=0, must-revalidate``: browsers and CDNs keep the answer
and ask again with ``If-None-Match``; while the counter has not moved the answer is a 304
with no body, found with one primary-key read and without running the query.

The counter is read before the query runs: should the store change in between, the answer
is newer than its tag, and the next request (its tag now behind the counter) gets the full
answer again; never an old answer under a new tag. Other queries (``records`` can change by
a late or corrected row without moving the counter, ``health``, ``etlRuns`` and ``stats``
with every run) and answers with errors get no tag. The tag is weak, as a compressed and an
uncompressed body are the same answer, and names the media type (``Vary: Accept``).
"""

from __future__ import annotations

from graphql import FieldNode, OperationDefinitionNode, OperationType

from kasparro.db.latest import Version

CACHEABLE_ROOTS = frozenset({"latestPrices", "__typename", "__schema", "__type"})
CACHE_CONTROL = "public, max-age=0, must-revalidate"


def cacheable(operation: OperationDefinitionNode) -> bool:
    """Whether ``operation`` is a query reading nothing but ``CACHEABLE_ROOTS`` (a fragment
    at the root is not looked into: not cached)."""
    return operation.operation is OperationType.QUERY and all(
        isinstance(selection, FieldNode) and selection.name.value in CACHEABLE_ROOTS
        for selection in operation.selection_set.selections
    )


def etag(version: Version, media: str) -> str:
    """The weak entity tag of an answer read at ``version`` in ``media``."""
    number, token = version
    return f'W/"{number}.{token:x}.{"g" if "graphql" in media else "j"}"'


def headers(tag: str) -> dict[str, str]:
    """The caching headers of an answer tagged ``tag``."""
    return {"ETag": tag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept"}


def fresh(if_none_match: str | None, tag: str) -> bool:
    """Whether the client's ``If-None-Match`` holds ``tag`` (weak comparison)."""
    if not if_none_match:
        return False
    wanted = tag.removeprefix("W/")
    return any(
        part.strip() == "*" or part.strip().removeprefix("W/") == wanted
        for part in if_none_match.split(",")
    )
