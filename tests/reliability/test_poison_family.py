"""Generated poison among real items: the good ones always load, every bad one is a reject with
its reason, and no item fails its source (issue 13, item 11, as a class).

For each source (both APIs through the fake upstream, both CSV layouts from a file) every
example draws a sample of real recorded items or shipped rows, poisons some copies (one field
each: text that cannot be stored, a number that is not a finite float, a timestamp outside
the allowed range, an item that is not an object or cannot be parsed, a CSV row that is not
UTF-8 or too short) and mixes in arbitrary ones, and runs the ETL on the real database.
``POISON_EXAMPLES`` sets the examples per source (default 50); the figures (items read,
loaded, rejected, distinct reasons, seconds) are reported per source.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from kasparro.db.tables import latest_version, metadata, records
from kasparro.etl.config import EtlConfig
from kasparro.etl.pipeline import run_etl
from kasparro.etl.validate import SYMBOL_LIMIT
from tests.conftest import REPO
from tests.etl.conftest import FAST, by_source, make_config, query
from tests.reliability.figures import report
from tests.reliability.poison_values import (
    JSON_BAD_NUMBER,
    JSON_NOT_TEXT,
    bad_stamp,
    bad_text,
    deep,
    now_utc,
)
from tests.support.upstream import (
    GECKO,
    MARKETS,
    PAPRIKA,
    TICKERS,
    FakeUpstream,
    fake_upstream,
    json_reply,
    sample,
)

EXAMPLES = int(os.environ.get("POISON_EXAMPLES", "50"))
SKEW = timedelta(seconds=EtlConfig().max_future_seconds)
FAMILY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
GECKO_ITEMS = json.loads(sample(GECKO))
PAPRIKA_ITEMS = json.loads(sample(PAPRIKA))[:300]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=80)
    | st.text(st.characters(codec=None, categories=["L", "M", "Cs", "Cf", "Zs"]), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)


@dataclass(frozen=True)
class Batch:
    """A source's input: good items (key → value), where the poisoned ones are, how many
    arbitrary ones there are."""

    payload: bytes
    good: dict[tuple[str, datetime], float]
    poisoned: list[str]
    arbitrary: int

    @property
    def read(self) -> int:
        return len(self.good) + len(self.poisoned) + self.arbitrary


def empty_store(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            if table is not latest_version:
                conn.execute(table.delete())


def object_text(fields: dict[str, str]) -> str:
    """A JSON object from field name → JSON text of its value."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"


def instant(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@st.composite
def json_poison(draw: st.DrawFn, template: dict[str, Any], shape: str, serial: int) -> str:
    """``template`` (a real item) with one field poisoned, as JSON text."""
    fields = {key: json.dumps(value) for key, value in template.items()}
    fields["id"] = json.dumps(f"poison-{serial}")
    price = "current_price" if shape == "coingecko" else "price"
    target = draw(st.sampled_from(["id", "symbol", "name", "last_updated", price, "item"]))
    if target == "item":
        return draw(
            st.one_of(
                st.sampled_from(["null", "1", '"text"', "[]", "true"]),
                st.integers(1000, 4000).map(deep),
            )
        )
    if target in ("id", "symbol", "name"):
        bad = draw(st.one_of(bad_text(target).map(json.dumps), JSON_NOT_TEXT, st.just("null")))
        fields[target] = bad
    elif target == "last_updated":
        fields[target] = draw(bad_stamp(now_utc(), SKEW).map(json.dumps) | JSON_NOT_TEXT)
    elif shape == "coingecko":
        fields[price] = draw(JSON_BAD_NUMBER | st.just("null"))
    else:
        usd = {k: json.dumps(v) for k, v in template["quotes"]["USD"].items()}
        usd["price"] = draw(JSON_BAD_NUMBER | st.just("null"))
        fields["quotes"] = object_text({"USD": object_text(usd)})
    return object_text(fields)


@st.composite
def arbitrary_item(draw: st.DrawFn, template: dict[str, Any], serial: int) -> str:
    """A real item with some fields replaced by arbitrary JSON values (valid or not)."""
    item = {key: draw(st.just(value) | JSON_VALUES) for key, value in template.items()}
    if isinstance(item["id"], str):  # never the id of a good item
        item["id"] = f"arbitrary-{serial}-{item['id']}"
    return json.dumps(item)


@st.composite
def api_batch(draw: st.DrawFn, shape: str) -> Batch:
    pool = GECKO_ITEMS if shape == "coingecko" else PAPRIKA_ITEMS
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=40, unique_by=id))
    texts = [json.dumps(item) for item in chosen]
    kinds = ["good"] * len(texts)
    for serial in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(texts)))
        if draw(st.integers(0, 3)):
            texts.insert(at, draw(json_poison(draw(st.sampled_from(pool)), shape, serial)))
            kinds.insert(at, "poison")
        else:
            texts.insert(at, draw(arbitrary_item(draw(st.sampled_from(pool)), serial)))
            kinds.insert(at, "arbitrary")
    good = {}
    for item in chosen:
        usd = item if shape == "coingecko" else item["quotes"]["USD"]
        price = usd["current_price" if shape == "coingecko" else "price"]
        good[(item["id"], instant(item["last_updated"]))] = float(price)
    return Batch(
        ("[" + ",\n".join(texts) + "]").encode(),
        good,
        [f"page 1 item {n}" for n, kind in enumerate(kinds) if kind == "poison"],
        kinds.count("arbitrary"),
    )


LAYOUTS = {
    "csv": ("data.csv", ("symbol", "name", "price_usd", "timestamp"), "iso"),
    "csv2": ("data2.csv", ("Symbol", "Name", "Close", "Date"), "space"),
}


def shipped(source: str) -> tuple[list[str], list[dict[str, str]]]:
    name = LAYOUTS[source][0]
    with open(REPO / "data" / name, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def csv_line(cells: list[str]) -> bytes:
    """One CSV record, every cell quoted (a cell may hold a line break); a lone surrogate
    is written as the bytes that encode it, which are not UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    return buffer.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def csv_poison(draw: st.DrawFn, source: str, template: dict[str, str], serial: int) -> bytes:
    """A shipped row with one cell poisoned (or the row cut short, or not UTF-8)."""
    symbol, name, price, stamp = LAYOUTS[source][1]
    row = dict(template, **{symbol: f"PSN{serial}"})
    target = draw(st.sampled_from(["symbol", "name", "price", "stamp", "short", "bytes"]))
    if target == "symbol":
        row[symbol] = draw(bad_text("symbol"))
    elif target == "name":
        row[name] = draw(bad_text("name"))
    elif target == "price":
        row[price] = draw(
            st.sampled_from(["", "nan", "inf", "-1", "abc", "9" * 401, "1e999", "0x10"])
        )
    elif target == "stamp":
        row[stamp] = draw(bad_stamp(now_utc(), SKEW, LAYOUTS[source][2]))
    line = csv_line(list(row.values()))
    if target == "short":
        return b",".join(line.split(b",")[: draw(st.integers(1, 3))]) + b"\n"
    if target == "bytes":
        return line.replace(b",", b"\xff,", 1)
    return line


@st.composite
def csv_batch(draw: st.DrawFn, source: str) -> Batch:
    header, rows = shipped(source)
    symbol, _, price, stamp = LAYOUTS[source][1]
    chosen = draw(st.lists(st.sampled_from(rows), min_size=1, max_size=60, unique_by=id))
    lines = [csv_line(list(row.values())) for row in chosen]
    kinds = ["good"] * len(lines)
    for serial in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(lines)))
        if draw(st.integers(0, 3)):
            lines.insert(at, draw(csv_poison(source, draw(st.sampled_from(rows)), serial)))
            kinds.insert(at, "poison")
        else:
            cells = draw(st.lists(st.text(max_size=12), min_size=len(header), max_size=14))
            cells[header.index(symbol)] = f"ARB{serial}{cells[header.index(symbol)]}"
            lines.insert(at, csv_line(cells))
            kinds.insert(at, "arbitrary")
    poisoned, number = [], 2  # the physical line each record starts on (the header is 1)
    for line, kind in zip(lines, kinds, strict=True):
        if kind == "poison":
            poisoned.append(f"line {number}")
        number += line.count(b"\n")
    return Batch(
        (",".join(header) + "\n").encode() + b"".join(lines),
        {(row[symbol], instant(row[stamp])): float(row[price]) for row in chosen},
        poisoned,
        kinds.count("arbitrary"),
    )


def stored(engine: Engine, source: str) -> dict[tuple[str, datetime], float]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(records.c.record_id, records.c.timestamp, records.c.value).where(
                records.c.source == source
            )
        )
        return {(row.record_id, row.timestamp): row.value for row in rows}


@dataclass
class Tally:
    """What the examples of one source added up to."""

    examples: int = 0
    read: int = 0
    good: int = 0
    poisoned: int = 0
    arbitrary: int = 0
    inserted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream() as server:
        yield server


@pytest.fixture(scope="module")
def tallies(request: pytest.FixtureRequest) -> Iterator[dict[str, Tally]]:
    seen: dict[str, Tally] = {}
    yield seen
    if seen:
        summary = "; ".join(
            f"{source}: {t.examples} examples, {t.read} read ({t.good} good, {t.poisoned} "
            f"poisoned, {t.arbitrary} arbitrary), {t.inserted} loaded, {t.rejected} rejected "
            f"({len(t.kinds)} kinds of reason), {t.seconds:.1f} s"
            for source, t in seen.items()
        )
        report(request.config, "poison-family", summary, {s: vars(t) for s, t in seen.items()})


def check(engine: Engine, source: str, config: EtlConfig, batch: Batch, tally: Tally) -> None:
    """Run ``source`` over the batch in place: it succeeds, every good item is stored with its
    value, every poisoned one is a reject, no reject is an internal error, and the text
    stored fits its columns."""
    clock = time.monotonic()
    summary = run_etl(engine, config, sources=[source], retry=FAST)
    tally.seconds += time.monotonic() - clock
    result = by_source(summary)[source]
    assert (result.status, result.error) == ("success", None)
    assert result.rows_read == batch.read
    rejects = {
        row.locator: row.reason
        for row in query(
            engine, "SELECT locator, reason FROM rejects WHERE run_id = :r", r=summary.run_id
        )
    }
    tally.examples += 1
    tally.read += batch.read
    tally.good += len(batch.good)
    tally.poisoned += len(batch.poisoned)
    tally.arbitrary += batch.arbitrary
    tally.inserted += result.inserted
    tally.rejected += result.rejected
    assert result.rejected == len(rejects)
    assert result.inserted == batch.read - len(rejects)
    for where in batch.poisoned:
        assert where in rejects, (where, rejects)
    for where, reason in rejects.items():
        assert reason and not reason.startswith("internal error"), (where, reason)
        tally.kinds[reason.split(" (")[0].split(" '")[0]] += 1
    found = stored(engine, source)
    assert {key: found.get(key) for key in batch.good} == batch.good
    assert len(found) == result.inserted
    longest = max((len(symbol) for symbol in query_symbols(engine, source)), default=0)
    assert longest <= SYMBOL_LIMIT


def query_symbols(engine: Engine, source: str) -> list[str]:
    rows = query(engine, "SELECT symbol FROM records WHERE source = :s", s=source)
    return [row.symbol for row in rows]


@pytest.mark.parametrize("source", ["coingecko", "coinpaprika"])
@pytest.mark.slow
def test_poisoned_api_items_are_rejected_and_the_good_ones_load(
    engine: Engine, upstream: FakeUpstream, source: str, tallies: dict[str, Tally]
) -> None:
    path = MARKETS if source == "coingecko" else TICKERS
    config = make_config(upstream, max_reject_ratio=1.0)

    @FAMILY
    @given(batch=api_batch(source))
    def run(batch: Batch) -> None:
        empty_store(engine)
        upstream.serve(path, json_reply(batch.payload.decode()))
        check(engine, source, config, batch, tallies.setdefault(source, Tally()))

    run()


@pytest.mark.parametrize("source", ["csv", "csv2"])
@pytest.mark.slow
def test_poisoned_csv_rows_are_rejected_and_the_good_ones_load(
    engine: Engine, tmp_path: Path, source: str, tallies: dict[str, Tally]
) -> None:
    path = tmp_path / f"{source}.csv"
    config = make_config(None, **{f"{source}_path": path}, max_reject_ratio=1.0)

    @FAMILY
    @given(batch=csv_batch(source))
    def run(batch: Batch) -> None:
        empty_store(engine)
        path.write_bytes(batch.payload)
        check(engine, source, config, batch, tallies.setdefault(source, Tally()))

    run()
