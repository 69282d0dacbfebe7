"""One row with an unclosed quote among the shipped CSVs' good rows: only that row's first
line is rejected ("unterminated quote"), every other row loads, and a run stopped right
after it resumes at the exact next line."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.etl.pipeline import ProgressEvent, run_etl
from kasparro.etl.progress import SourceSummary
from tests.etl.conftest import by_source, make_config, query

DATA = Path(__file__).resolve().parents[2] / "data"
POISON = {
    "csv": 'PSN,"Poison,1,1,1,2021-01-01T00:00:00Z\n',
    "csv2": '9999,"Poison,PSN,2021-01-01 23:59:59,1,1,1,1,1,1\n',
}
SHIPPED = {"csv": DATA / "data.csv", "csv2": DATA / "data2.csv"}
BOUND = "after 8 lines (CSV_MAX_ROW_LINES); only this line is rejected"


def poisoned(tmp_path: Path, source: str, at: int) -> tuple[Path, int]:
    """The shipped file of ``source`` with the poison line put before its row ``at``
    (0: the first row, -1: after the last); the file and the poison's line number."""
    header, *rows = SHIPPED[source].read_text(encoding="utf-8").splitlines(keepends=True)
    at = len(rows) if at < 0 else at
    rows.insert(at, POISON[source])
    path = tmp_path / SHIPPED[source].name
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path, at + 2


def load(engine: Engine, source: str, path: Path, **changes: object) -> SourceSummary:
    config = make_config(None, **{f"{source}_path": path}, **changes)
    return by_source(run_etl(engine, config, sources=[source]))[source]


def the_reject(engine: Engine, source: str) -> tuple[str, str, str]:
    [reject] = query(engine, "SELECT locator, reason, raw FROM rejects WHERE source = :s", s=source)
    return reject.locator, reject.reason, reject.raw


def stored(engine: Engine, source: str) -> int:
    [row] = query(engine, "SELECT count(*) AS n FROM records WHERE source = :s", s=source)
    return int(row.n)


@pytest.mark.parametrize("source", ["csv", "csv2"])
@pytest.mark.parametrize("at", [748, 0])
def test_one_unclosed_quote_loses_only_its_own_line(
    engine: Engine, tmp_path: Path, source: str, at: int
) -> None:
    path, line = poisoned(tmp_path, source, at)
    good = sum(1 for _ in SHIPPED[source].open(encoding="utf-8")) - 1
    summary = load(engine, source, path)
    assert (summary.status, summary.error) == ("success", None)
    assert (summary.rows_read, summary.inserted, summary.rejected) == (good + 1, good, 1)
    assert the_reject(engine, source) == (
        f"line {line}",
        f"unterminated quote: a quoted field is still open {BOUND}",
        POISON[source].rstrip("\n"),
    )
    assert stored(engine, source) == good


def test_an_unclosed_quote_on_the_last_line_is_named_at_the_end_of_the_file(
    engine: Engine, tmp_path: Path
) -> None:
    path, line = poisoned(tmp_path, "csv", -1)
    summary = load(engine, "csv", path)
    assert (summary.status, summary.inserted, summary.rejected) == ("success", 1496, 1)
    assert the_reject(engine, "csv")[:2] == (
        f"line {line}",
        "unterminated quote: a quoted field is still open at the end of the file; "
        "only this line is rejected",
    )


def test_a_quote_open_near_the_end_rereads_the_lines_it_held(
    engine: Engine, tmp_path: Path
) -> None:
    """Three rows after the poison: the end of the file comes inside its quote, and the
    three lines are read again as rows."""
    path, line = poisoned(tmp_path, "csv", 1493)
    summary = load(engine, "csv", path)
    assert (summary.status, summary.inserted, summary.rejected) == ("success", 1496, 1)
    assert the_reject(engine, "csv")[0] == f"line {line}"
    assert "at the end of the file" in the_reject(engine, "csv")[1]


def test_a_run_stopped_right_after_the_poison_resumes_at_the_next_line(
    engine: Engine, tmp_path: Path
) -> None:
    """The first batch ends on the poison, while the lines its quote held wait to be read
    again: the checkpoint is the end of the poison's line, so the next run reads them."""
    path, _ = poisoned(tmp_path, "csv", 748)
    stop = threading.Event()

    def stop_after_first_batch(event: ProgressEvent) -> None:
        if event.kind == "batch":
            stop.set()

    config = make_config(csv_path=path, batch_size=749)
    first = by_source(
        run_etl(engine, config, sources=["csv"], progress=stop_after_first_batch, stop=stop)
    )["csv"]
    assert (first.status, first.inserted, first.rejected) == ("failed", 748, 1)
    resumed = by_source(run_etl(engine, config, sources=["csv"]))["csv"]
    assert (resumed.status, resumed.rows_read, resumed.inserted) == ("success", 748, 748)
    assert stored(engine, "csv") == 1496
    again = by_source(run_etl(engine, config, sources=["csv"]))["csv"]
    assert (again.rows_read, again.note is not None) == (0, True)


def test_a_quoted_field_within_the_bound_still_spans_lines(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(
        "symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
        'BTC,"Bit\ncoin",1,1,1,2021-01-01T00:00:00Z\n'
        "ETH,Ethereum,2,2,2,2021-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    summary = load(engine, "csv", path, csv_max_row_lines=2)
    assert (summary.rows_read, summary.rejected) == (2, 1)
    assert the_reject(engine, "csv")[:2] == (
        "line 2",
        "name contains a control character (U+000A) at character 4",
    )
