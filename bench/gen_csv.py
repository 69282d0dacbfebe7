"""Generate a synthetic price CSV in the data.csv layout, for benchmarks only.

The values are a seeded random walk, not market data: the file exists to measure ingest
speed and memory, never to be served as real prices.

    python bench/gen_csv.py --rows 1000000 --coins 1000 --output bench/out/prices_1m.csv
    python bench/gen_csv.py --rows 1000 --coins 1000 --append bench/out/prices_1m.csv

Rows are written day by day (every coin once per day), oldest first, as an exchange export
would be; ``--append`` continues after the newest day already in the file.
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

HEADER = ["symbol", "name", "price_usd", "market_cap", "volume_24h", "timestamp"]
START = datetime(2019, 1, 1, tzinfo=UTC)


def coin(index: int) -> tuple[str, str]:
    return f"SYN{index:04d}", f"Synthetic Coin {index:04d}"


def last_day(path: Path) -> int:
    """Days after START of the newest row in ``path`` (its last line)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 4096))
        tail = handle.read().decode("utf-8").strip().splitlines()[-1]
    stamp = datetime.fromisoformat(tail.rsplit(",", 1)[1])
    return (stamp - START).days


def write_rows(path: Path, rows: int, coins: int, first_day: int, append: bool) -> None:
    rng = random.Random(first_day * 7919 + rows)
    prices = [rng.uniform(0.001, 50_000.0) for _ in range(coins)]
    written = 0
    day = first_day
    with path.open("a" if append else "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        if not append:
            writer.writerow(HEADER)
        while written < rows:
            stamp = (START + timedelta(days=day)).isoformat().replace("+00:00", "Z")
            for index in range(min(coins, rows - written)):
                prices[index] *= 1.0 + rng.gauss(0.0, 0.03)
                price = prices[index]
                symbol, name = coin(index)
                writer.writerow(
                    [
                        symbol,
                        name,
                        f"{price:.8g}",
                        f"{price * 1e7:.2f}",
                        f"{price * 1e5 * rng.random():.2f}",
                        stamp,
                    ]
                )
                written += 1
            day += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--coins", type=int, default=1000)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", type=Path, help="write a new file")
    target.add_argument("--append", type=Path, help="append to an existing file")
    args = parser.parse_args()
    if args.append:
        write_rows(args.append, args.rows, args.coins, last_day(args.append) + 1, append=True)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_rows(args.output, args.rows, args.coins, 0, append=False)


if __name__ == "__main__":
    main()
