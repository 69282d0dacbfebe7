"""The small value types that flow from a source through validation to the loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Row(NamedTuple):
    """A valid observation. The timestamp is canonical naive-UTC text, see ``etl.validate``."""

    record_id: str
    timestamp: str
    symbol: str
    name: str
    value: float
    market_cap: float | None
    volume_24h: float | None


@dataclass(frozen=True, slots=True)
class Reject:
    """A row or item that failed validation: where it was, why, and its raw text.

    ``kind`` is the reason without the offending value (``RecordRejected.kind``): a source
    tallies its rejects by it to name a likely schema drift.
    """

    locator: str
    reason: str
    raw: str
    kind: str


@dataclass(slots=True)
class Chunk:
    """What a source hands the loader at once: at most ``batch_size`` rows.

    ``read`` counts the rows or items read for it (valid plus rejected), ``rejected`` those
    rejected; ``rejects`` holds the ones kept (``etl.reject_log``). ``position`` is the
    source's resume point after this chunk (a file fingerprint), or None for API sources.
    ``last`` marks the source's final chunk: the one that advances the high-water mark.
    """

    rows: list[Row] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    read: int = 0
    rejected: int = 0
    position: str | None = None
    last: bool = False
