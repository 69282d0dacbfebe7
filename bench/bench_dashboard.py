"""The dashboard's page weight and time to first chart, on a seeded store.

    python bench/seed_store.py --rows 1000000 --database-url sqlite:////tmp/dash-bench/store1m.db
    python bench/bench_dashboard.py --database-url sqlite:////tmp/dash-bench/store1m.db

Runs `kasparro serve` (ETL off) on the store. Page weight: the HTML, scripts and styles a
page loads (the page, its modules and the vendored uPlot), as sent with and without
``Accept-Encoding: gzip`` (the server compresses answers of at least COMPRESS_MIN_BYTES).
Time to first chart: headless Chromium (Debian's chromium and chromedriver) opens each
page, and the page marks ``kasparro-ready`` (``performance.mark``) when it first shows its
data; the figure is that mark's time from navigation start: the first load with an empty
cache, then the median of the next loads (files cached, data queried again).
Results: a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the WebDriver client lives in tests/ (not installed)

from tests.support.servers import free_port  # noqa: E402
from tests.support.webdriver import chromium  # noqa: E402

READY = (
    "const m = performance.getEntriesByName('kasparro-ready')[0];"
    "return m ? m.startTime : (document.body.dataset.state === 'error'"
    " ? document.getElementById('error').innerText : null)"
)


def page_files(client: httpx.Client) -> list[str]:
    """The page and every file it loads: tags in the HTML, then the modules' imports."""
    html = client.get("/").text
    files = ["/", *re.findall(r'(?:src|href)="(/dashboard-assets/[^"]+)"', html)]
    pending = [name for name in files if name.endswith(".js") and "/vendor/" not in name]
    while pending:
        module = pending.pop()
        for imported in re.findall(r'from "\./([^"]+)"', client.get(module).text):
            name = f"/dashboard-assets/{imported}"
            if name not in files:
                files.append(name)
                pending.append(name)
    return files


def weight(client: httpx.Client, files: list[str], encoding: str) -> int:
    total = 0
    for name in files:
        with client.stream("GET", name, headers={"Accept-Encoding": encoding}) as response:
            response.read()
            total += response.num_bytes_downloaded
    return total


def first_chart(base: str, paths: list[str], loads: int) -> list[tuple[str, float, float]]:
    results = []
    for path in paths:
        with chromium() as browser:
            times = []
            for _ in range(loads):
                browser.open(base + path)
                deadline = time.monotonic() + 120
                while (mark := browser.script(READY)) is None:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{path} showed nothing in 120 s")
                    time.sleep(0.05)
                if isinstance(mark, str):
                    raise SystemExit(f"{path}: {mark}")
                times.append(float(mark))
        results.append((path, times[0], statistics.median(times[1:])))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--asset", default="synthetic-coin-0")
    parser.add_argument("--loads", type=int, default=6, help="loads of each page (first cold)")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "DATABASE_URL": args.database_url, "ETL_ON_STARTUP": "false"}
    command = [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit("kasparro serve did not start") from None
                    time.sleep(0.2)
            files = page_files(client)
            raw, gzipped = weight(client, files, "identity"), weight(client, files, "gzip")
            records = client.post(
                "/graphql", json={"query": "{ stats { recordsTotal assetsTotal } }"}
            ).json()["data"]["stats"]
        asset = f"/assets/{args.asset}"
        paths = [
            "/",
            "/spread",
            "/runs",
            f"{asset}?interval=HOUR_1&range=all",
            f"{asset}?interval=DAY_1&range=all",
        ]
        timed = first_chart(base, paths, args.loads)
    finally:
        process.terminate()
        process.wait(timeout=30)

    print(f"store: {records['recordsTotal']:,} records, {records['assetsTotal']:,} assets")
    print(f"page weight ({len(files)} files: {', '.join(files)}):")
    print(f"  {raw:,} bytes as stored, {gzipped:,} bytes with gzip\n")
    print("| page | first load, empty cache (ms) | median of next loads (ms) |")
    print("|---|---|---|")
    for path, cold, warm in timed:
        print(f"| `{path}` | {cold:.0f} | {warm:.0f} |")


if __name__ == "__main__":
    main()
