"""CPU seconds of `kasparro etl` over one CSV, this checkout next to another, runs alternating.

    python bench/bench_ingest_cpu.py --code /tmp/kasparro-old [/tmp/other …] [--rows 200000]
        [--repeat 5]

Each run loads the same file (bench/gen_csv.py, data.csv layout) into a freshly migrated
SQLite store in a temporary directory; the figure is the ETL process's own user + system
CPU from ``wait4`` (wall time moves with anything else on a shared machine, CPU time much
less). The checkouts take turns run by run and the best of ``--repeat`` is kept for each;
``--code`` names other checkouts of this repository, each run with the same interpreter and
``PYTHONPATH`` pointing at it. A checkout's interpreter start-up (``kasparro --help``) is
measured the same way, so the rest is the cost of the rows. Results are printed as a
Markdown table and written to bench/out/ingest_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"


def cpu_seconds(command: list[str], env: dict[str, str]) -> float:
    """Run ``command``; the child's user + system CPU seconds (from wait4)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(stderr.decode(errors="replace")[-4000:])
        raise SystemExit(f"{' '.join(command)} exited {code}")
    return usage.ru_utime + usage.ru_stime


def run_once(code: Path, csv_path: Path, workdir: Path) -> tuple[float, float]:
    """(CPU seconds of the ETL over ``csv_path`` into a fresh store, of start-up alone)."""
    store = workdir / "cpu.db"
    for leftover in workdir.glob("cpu.db*"):
        leftover.unlink()
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "DATABASE_URL": f"sqlite:///{store}",
        "ETL_SOURCES": "csv",
        "CSV_PATH": str(csv_path),
        "LOG_LEVEL": "WARNING",
    }
    cli = [sys.executable, "-m", "kasparro.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    etl = cpu_seconds([*cli, "etl"], env)
    startup = cpu_seconds([*cli, "--help"], env)
    return etl, startup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", type=Path, nargs="+", required=True, help="other checkouts")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--coins", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    checkouts = {"this checkout": ROOT, **{str(code): code.resolve() for code in args.code}}
    OUT.mkdir(exist_ok=True)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in checkouts}
    with tempfile.TemporaryDirectory(prefix="kasparro-cpu-") as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "prices.csv"
        generate = [sys.executable, str(HERE / "gen_csv.py"), "--rows", str(args.rows)]
        generate += ["--coins", str(args.coins), "--output", str(csv_path)]
        subprocess.run(generate, check=True)
        order = list(checkouts.items())
        for turn in range(args.repeat):
            for name, code in order[turn % len(order) :] + order[: turn % len(order)]:
                runs[name].append(run_once(code, csv_path, workdir))
    results = []
    for name, measured in runs.items():
        etl = sorted(run[0] for run in measured)
        startup = min(run[1] for run in measured)
        results.append(
            {
                "checkout": name,
                "rows": args.rows,
                "etl_cpu_seconds": [round(value, 3) for value in etl],
                "best": round(etl[0], 3),
                "startup_cpu_seconds": round(startup, 3),
                "per_row_us": round((etl[0] - startup) / args.rows * 1e6, 2),
            }
        )
    (OUT / "ingest_cpu.json").write_text(json.dumps(results, indent=2))
    print("| checkout | rows | ETL CPU s, best | all runs | start-up CPU s | µs per row |")
    print("|---|---|---|---|---|---|")
    for r in results:
        spread = ", ".join(str(value) for value in r["etl_cpu_seconds"])
        print(
            f"| {r['checkout']} | {r['rows']:,} | {r['best']} | {spread} "
            f"| {r['startup_cpu_seconds']} | {r['per_row_us']} |"
        )


if __name__ == "__main__":
    main()
