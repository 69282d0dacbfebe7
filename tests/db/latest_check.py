"""Brute-force expectations for ``latest_records``, computed in Python from ``records``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from kasparro.db.tables import latest_records, records

Heads = dict[tuple[str, str], tuple[datetime, float]]


def newest_per_key(engine: Engine) -> Heads:
    """{(source, record_id): (timestamp, value)} of each key's newest row in ``records``."""
    heads: Heads = {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(records.c.source, records.c.record_id, records.c.timestamp, records.c.value)
        )
        for source, record_id, timestamp, value in rows:
            held = heads.get((source, record_id))
            if held is None or timestamp > held[0]:
                heads[(source, record_id)] = (timestamp, value)
    return heads


def stored_heads(engine: Engine) -> Heads:
    """What ``latest_records`` holds, in the same shape."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                latest_records.c.source,
                latest_records.c.record_id,
                latest_records.c.timestamp,
                latest_records.c.value,
            )
        )
        return {(s, r): (t, v) for s, r, t, v in rows}


def assert_consistent(engine: Engine) -> Heads:
    """``latest_records`` is exactly the newest record of every key; return it."""
    expected, stored = newest_per_key(engine), stored_heads(engine)
    assert stored == expected
    return stored
