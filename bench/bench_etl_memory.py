"""ETL memory benchmark: peak RSS of hostile inputs, each in a fresh process.

    python bench/bench_etl_memory.py [--code DIR]

Cases (each a `kasparro etl --source csv` over a generated file on a scratch SQLite store,
or one upstream body read by ``etl.http_body.read_body``), next to a baseline (the same
command over a one-row file, and reading a small plain body):

- ``bad-rows``: a CSV of 1,000,000 rows whose price is not a number (52 MB);
- ``long-line``: a CSV whose third line is 100 MiB without a delimiter, between good rows;
- ``codings-16``: a 1.5 KB body of 16 stacked gzip layers (inner ones stored), each
  decoding to about 1 MiB, read with HTTP_MAX_CONTENT_CODINGS=16;
- ``codings-500``: the same with 500 layers (9.7 KB), at the default setting (refused).

It asserts each CSV case peaks within 64 MiB of its baseline and each body within 32 MiB
(exit 1 if not), prints a Markdown table and writes bench/out/etl-memory.json. ``--code``
runs the cases against another checkout (e.g. the code before a fix, from ``git archive``)
and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
HEADER = b"symbol,name,price_usd,market_cap,volume_24h,timestamp\n"
GOOD = b"BTC,Bitcoin,30000,1,1,2021-01-01T00:00:00Z\n"
MIB = 1 << 20
CSV_BOUND_KIB = 64 * 1024
BODY_BOUND_KIB = 32 * 1024

CSV_PROBE = """
import resource, sys
from kasparro.cli import main
code = main(["etl", "--source", "csv"])
print("peak-rss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""

BODY_PROBE = """
import inspect, resource, sys, zlib
import httpx
from kasparro.etl.http_body import BodyRefused, read_body
layers, max_codings = int(sys.argv[1]), int(sys.argv[2])
body = b"[" + b" " * ((1 << 20) - 2) + b"]"
for level in [0] * (layers - 1) + [9]:
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    body = packer.compress(body) + packer.flush()
coding = ", ".join(["gzip"] * layers) if layers else "identity"

class Stream(httpx.SyncByteStream):
    def __iter__(self):
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

reply = httpx.Response(200, headers={"content-encoding": coding}, stream=Stream())
extra = [max_codings] if "max_codings" in inspect.signature(read_body).parameters else []
try:
    outcome = f"read {len(read_body(reply, 16 << 20, lambda n: None, *extra)):,} bytes"
except BodyRefused as exc:
    outcome = f"refused: {exc}"
print("outcome", outcome, file=sys.stderr)
print("peak-rss-kib", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def write_bad_rows(path: Path) -> Path:
    with path.open("wb") as handle:
        handle.write(HEADER + GOOD)
        bad = b"BAD,Bad Coin,not-a-number,1,1,2021-01-01T00:00:00Z\n"
        for _ in range(1000):
            handle.write(bad * 1000)
    return path


def write_long_line(path: Path) -> Path:
    with path.open("wb") as handle:
        handle.write(HEADER + GOOD)
        for _ in range(100):
            handle.write(b"x" * MIB)
        handle.write(b"\n" + GOOD.replace(b"BTC", b"ETH"))
    return path


def write_one_row(path: Path) -> Path:
    path.write_bytes(HEADER + GOOD)
    return path


def run(probe: str, args: list[str], env: dict[str, str], code: Path | None) -> dict[str, str]:
    environ = {**os.environ, **env}
    if code is not None:
        environ["PYTHONPATH"] = str(code)
    result = subprocess.run(
        [sys.executable, "-c", probe, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=code,  # ``-c`` puts the working directory first on the path
    )
    found = dict(re.findall(r"^(peak-rss-kib|outcome) (.*)$", result.stderr, re.MULTILINE))
    if "peak-rss-kib" not in found:
        raise SystemExit(f"the probe failed:\n{result.stderr[-3000:]}")
    table = [line for line in result.stdout.splitlines() if line.startswith("csv ")]
    if table:
        status, read, inserted, *_, rejected = table[0].split()[1:8]
        found["outcome"] = f"{status}: {read} read, {inserted} inserted, {rejected} rejected"
    return found


def csv_case(folder: Path, name: str, csv: Path, code: Path | None) -> dict[str, str]:
    store = folder / f"{name}.db"
    store.unlink(missing_ok=True)
    env = {"DATABASE_URL": f"sqlite:///{store}", "CSV_PATH": str(csv)}
    env["ETL_MAX_REJECT_RATIO"] = "1"
    return run(CSV_PROBE, [], env, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, help="run against this checkout; assert nothing")
    args = parser.parse_args()
    folder = OUT / "etl-memory"
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "csv-baseline": write_one_row(folder / "one-row.csv"),
        "bad-rows": write_bad_rows(folder / "bad-rows.csv"),
        "long-line": write_long_line(folder / "long-line.csv"),
    }
    results = {name: csv_case(folder, name, path, args.code) for name, path in files.items()}
    bodies = (("body-baseline", 0, 2), ("codings-16", 16, 16), ("codings-500", 500, 2))
    for name, layers, max_codings in bodies:
        results[name] = run(BODY_PROBE, [str(layers), str(max_codings)], {}, args.code)
    print("| case | peak RSS MiB | over its baseline MiB | outcome |")
    print("|---|---|---|---|")
    failed = False
    for name, found in results.items():
        peak = int(found["peak-rss-kib"])
        csv = name in files
        base = int(results["csv-baseline" if csv else "body-baseline"]["peak-rss-kib"])
        over = peak - base
        if args.code is None and over > (CSV_BOUND_KIB if csv else BODY_BOUND_KIB):
            failed = True
        outcome = found.get("outcome", "")[:160]
        print(f"| {name} | {peak / 1024:.1f} | {over / 1024:.1f} | {outcome} |")
    (OUT / "etl-memory.json").write_text(json.dumps(results, indent=2))
    if failed:
        raise SystemExit("a peak is over its bound")


if __name__ == "__main__":
    main()
