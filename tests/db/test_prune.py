from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, insert, select

from kasparro.db.prune import TARGETS, parse_age, prune, prune_table
from kasparro.db.tables import assets, etl_runs, raw_payloads, records, rejects

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=90)
# Ages in days: three rows older than the cutoff, one exactly at it (kept: "older" is strict),
# two younger.
AGES = (400, 120, 91, 90, 30, 0)
OLD = 3


def seed(engine: Engine, now: datetime = NOW) -> None:
    """One run, one asset, then raw payloads, records and rejects ``AGES`` days before ``now``."""
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(etl_runs).returning(etl_runs.c.id),
            {"status": "success", "trigger": "manual", "started_at": now},
        ).scalar_one()
        conn.execute(
            insert(assets), {"id": "bitcoin", "symbol": "BTC", "name": "Bitcoin", "created_at": now}
        )
        conn.execute(
            insert(raw_payloads),
            [
                {
                    "run_id": run_id,
                    "source": "coingecko",
                    "url": f"https://example.test/{age}",
                    "status_code": 200,
                    "fetched_at": now - timedelta(days=age),
                    "sha256": "0" * 64,
                    "size": 2,
                    "encoding": "gzip",
                    "content": b"{}",
                }
                for age in AGES
            ],
        )
        conn.execute(
            insert(records),
            [
                {
                    "source": source,
                    "record_id": "BTC",
                    "timestamp": now - timedelta(days=age),
                    "asset_id": "bitcoin",
                    "symbol": "BTC",
                    "name": "Bitcoin",
                    "value": float(age),
                    "ingested_at": now,
                }
                for age in AGES
                for source in ("csv", "csv2")
            ],
        )
        conn.execute(
            insert(rejects),
            [
                {
                    "run_id": run_id,
                    "source": "csv",
                    "locator": f"line {age}",
                    "reason": "bad price",
                    "raw": "x",
                    "created_at": now - timedelta(days=age),
                }
                for age in AGES
            ],
        )


def remaining(engine: Engine, now: datetime = NOW) -> dict[str, list[str]]:
    """What is left in each prunable table, oldest first, as readable labels."""
    with engine.connect() as conn:
        return {
            "raw_payloads": list(
                conn.scalars(select(raw_payloads.c.url).order_by(raw_payloads.c.fetched_at))
            ),
            "records": [
                f"{row.source}@{round((now - row.timestamp) / timedelta(days=1))}d"
                for row in conn.execute(
                    select(records.c.source, records.c.timestamp).order_by(
                        records.c.timestamp, records.c.source
                    )
                )
            ],
            "rejects": list(conn.scalars(select(rejects.c.locator).order_by(rejects.c.created_at))),
        }


ALL_RECORDS = [f"{source}@{age}d" for age in AGES for source in ("csv", "csv2")]
YOUNG_RECORDS = ALL_RECORDS[2 * OLD :]


def test_default_prunes_raw_payloads_only(engine: Engine) -> None:
    seed(engine)
    assert prune(engine, CUTOFF) == {"raw_payloads": OLD}
    assert remaining(engine) == {
        "raw_payloads": [f"https://example.test/{age}" for age in (90, 30, 0)],
        "records": ALL_RECORDS,
        "rejects": [f"line {age}" for age in AGES],
    }


@pytest.mark.parametrize("batch_size", [1, 2, 3, 10_000])
def test_every_table_in_batches_of_any_size(
    engine: Engine, batch_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    seed(engine)
    caplog.set_level(logging.DEBUG, logger="kasparro.db.prune")
    counts = prune(
        engine, CUTOFF, tables=("rejects", "records", "raw_payloads"), batch_size=batch_size
    )
    assert counts == {"raw_payloads": OLD, "records": 2 * OLD, "rejects": OLD}
    assert list(counts) == ["raw_payloads", "records", "rejects"]
    assert remaining(engine) == {
        "raw_payloads": [f"https://example.test/{age}" for age in (90, 30, 0)],
        "records": YOUNG_RECORDS,
        "rejects": [f"line {age}" for age in (90, 30, 0)],
    }
    batches = [(entry.table, entry.rows) for entry in caplog.records]  # type: ignore[attr-defined]
    expected = []
    for table, old in (("raw_payloads", OLD), ("records", 2 * OLD), ("rejects", OLD)):
        full, rest = divmod(old, batch_size)
        expected += [(table, batch_size)] * full + ([(table, rest)] if rest else [])
    assert batches == expected


def test_a_second_prune_finds_nothing(engine: Engine) -> None:
    seed(engine)
    prune(engine, CUTOFF, tables=("raw_payloads", "records", "rejects"), batch_size=2)
    assert prune(engine, CUTOFF, tables=("raw_payloads", "records", "rejects")) == {
        "raw_payloads": 0,
        "records": 0,
        "rejects": 0,
    }
    assert len(remaining(engine)["records"]) == len(YOUNG_RECORDS)


def test_cutoff_in_another_zone_means_the_same_instant(engine: Engine) -> None:
    seed(engine)
    records_target = next(target for target in TARGETS if target.name == "records")
    # 91 days old is before the cutoff; say the cutoff in UTC+05:00 one hour after 91 days.
    zoned = (NOW - timedelta(days=91) + timedelta(hours=1)).astimezone(timezone(timedelta(hours=5)))
    assert prune_table(engine, records_target, zoned) == 2 * OLD
    assert remaining(engine)["records"] == YOUNG_RECORDS


def test_empty_tables_prune_to_zero(engine: Engine) -> None:
    assert prune(engine, CUTOFF, tables=("records", "raw_payloads")) == {
        "raw_payloads": 0,
        "records": 0,
    }


def test_bad_arguments_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match=r"^cannot prune assets, etl_runs \(known: raw_payloads"):
        prune(engine, CUTOFF, tables=("etl_runs", "assets"))
    with pytest.raises(ValueError, match="naive cutoff"):
        prune(engine, CUTOFF.replace(tzinfo=None))
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        prune(engine, CUTOFF, batch_size=0)


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(days=14)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_age(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["90", "0d", "-5d", "1.5d", "3m", "d", "", "90 days"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_age(text)
    assert str(caught.value) == f"expected a positive age like 90d, 12h or 2w, got {text!r}"
