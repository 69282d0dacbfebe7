from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import StatementError

from kasparro.db.tables import checkpoints


def test_timestamps_round_trip_as_aware_utc(engine: Engine) -> None:
    plus_two = timezone(timedelta(hours=2))
    written = datetime(2021, 7, 6, 23, 59, 59, 123456, tzinfo=plus_two)
    with engine.begin() as conn:
        conn.execute(
            insert(checkpoints).values(source="csv", high_water=written, updated_at=written)
        )
    with engine.connect() as conn:
        row = conn.execute(select(checkpoints.c.high_water, checkpoints.c.updated_at)).one()
    assert row.high_water == written
    assert row.high_water.tzinfo is not None
    assert row.high_water.utcoffset() == timedelta(0)
    assert row.high_water == datetime(2021, 7, 6, 21, 59, 59, 123456, tzinfo=UTC)
    assert row.high_water.isoformat() == "2021-07-06T21:59:59.123456+00:00"


def test_timestamp_comparison_happens_in_utc(engine: Engine) -> None:
    early = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(checkpoints).values(source="a", high_water=early, updated_at=early))
        later_in_tokyo = datetime(2024, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=9)))
        conn.execute(
            insert(checkpoints).values(source="b", high_water=later_in_tokyo, updated_at=early)
        )
    with engine.connect() as conn:
        ordered = (
            conn.execute(select(checkpoints.c.source).order_by(checkpoints.c.high_water))
            .scalars()
            .all()
        )
        after = (
            conn.execute(
                select(checkpoints.c.source).where(
                    checkpoints.c.high_water > datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
                )
            )
            .scalars()
            .all()
        )
    assert ordered == ["a", "b"]
    assert after == ["b"]


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with (
        pytest.raises(StatementError, match="timestamps must be timezone-aware"),
        engine.begin() as conn,
    ):
        conn.execute(
            insert(checkpoints).values(
                source="csv", high_water=datetime(2021, 1, 1), updated_at=datetime.now(UTC)
            )
        )
