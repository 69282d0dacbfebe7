"""Poison-data benchmark: the cost of validating hostile values grows at most linearly.

    python bench/bench_poison.py [--largest 10000000]

For values built to be slow (padding of spaces and zero-width characters, non-ASCII text,
garbage timestamps, long digit strings) and for API pages built to be slow (an item nested
far past the parser's depth, an unterminated string of escaped quotes), each at sizes from
1,000 characters up to ``--largest``, it times the validation step (best of three) and
asserts the bounds:

- a text field is refused or accepted in bounded time whatever its length (at most 5 ms at
  every size: nothing looks past 16 times the column's length);
- a page is split and parsed in linear time: 10 times the size costs at most 20 times the time, and
  the largest page takes at most 10 s.

It prints a Markdown table and writes bench/out/poison.json; it exits 1 if a bound fails.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kasparro.etl.errors import RecordRejected
from kasparro.etl.json_pages import page_items
from kasparro.etl.validate import TimestampParser, json_number, name_text, symbol_text

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SAMPLES = HERE.parent.parent / "shared" / "datasets" / "upstream-samples"
SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)
FIELD_BOUND = 0.005
PAGE_BOUND = 10.0
GROWTH_BOUND = 20.0


def best_of(run: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with contextlib.suppress(RecordRejected):
            run()
        best = min(best, time.perf_counter() - started)
    return best


def parsing(content: bytes) -> Callable[[], Any]:
    return lambda: page_items(content)


def field_cases(size: int) -> dict[str, Callable[[], Any]]:
    """The values are built once, outside what is timed."""
    padded = " \u200b" * (size // 4) + "Bitcoin" + " \u200b" * (size // 4)
    accents = "\u00e9" * size
    garbage = "2021-01-01" + "x" * size
    digits = int("9" * min(size, 4300))
    parse = TimestampParser(datetime.now(UTC), timedelta(seconds=300))
    return {
        "name: spaces and zero-width padding": lambda: name_text(padded),
        "symbol: non-ASCII letters": lambda: symbol_text(accents),
        "timestamp: garbage": lambda: parse(garbage),
        "price: digits (up to 4,300)": lambda: json_number(digits, "p", required=True),
    }


def page_cases(size: int) -> dict[str, bytes]:
    items = (SAMPLES / "coingecko_markets_usd_top120_2025-05-20.json").read_bytes()[1:-1]
    deep = b'{"id": "deep", "name": ' + b"[" * (size // 2) + b"]" * (size // 2) + b"}"
    return {
        "page: 120 items and one nested size/2 deep": b"[" + items + b", " + deep + b"]",
        "page: nested past the parser, then a string of escaped quotes left open": (
            b"[" * 2000 + b'"' + b'\\"' * (size // 2)
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--largest", type=int, default=10_000_000)
    args = parser.parse_args()
    sizes = [size for size in SIZES if size <= args.largest]
    results: dict[str, dict[int, float]] = {}
    for size in sizes:
        for name, run in field_cases(size).items():
            results.setdefault(name, {})[size] = best_of(run)
        for name, content in page_cases(size).items():
            results.setdefault(name, {})[size] = best_of(parsing(content))
    failures = []
    print("| case | " + " | ".join(f"{size:,} chars" for size in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name, timings in results.items():
        print(f"| {name} | " + " | ".join(f"{timings[s] * 1000:.2f} ms" for s in sizes) + " |")
        if name.startswith("page"):
            if timings[sizes[-1]] > PAGE_BOUND:
                failures.append(f"{name}: {timings[sizes[-1]]:.2f} s at {sizes[-1]:,}")
            for small, large in itertools.pairwise(sizes):
                growth = timings[large] / timings[small]
                if timings[small] > 0.001 and growth > GROWTH_BOUND:
                    failures.append(f"{name}: {growth:.0f} times from {small:,} to {large:,}")
        elif max(timings.values()) > FIELD_BOUND:
            failures.append(f"{name}: {max(timings.values()) * 1000:.1f} ms")
    OUT.mkdir(exist_ok=True)
    (OUT / "poison.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    for failure in failures:
        print(f"bound failed: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
