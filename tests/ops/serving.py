"""`kasparro serve` as a real subprocess for the operations tests: start, wait, signal."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO
from tests.support.servers import free_port
from tests.support.waiting import wait_until

BASE_ENV = {
    "CSV_PATH": str(REPO / "data" / "data.csv"),
    "CSV2_PATH": str(REPO / "data" / "data2.csv"),
    "ASSETS_PATH": str(REPO / "data" / "assets.csv"),
    # Closed local ports: the API sources fail at once when a test enables them.
    "COINPAPRIKA_BASE_URL": "http://127.0.0.1:9/v1",
    "COINGECKO_BASE_URL": "http://127.0.0.1:9/api/v3",
    "HTTP_MAX_RETRIES": "0",
    "HTTP_TIMEOUT_SECONDS": "5",
    "ETL_ON_STARTUP": "false",
    "LOG_FORMAT": "json",
}


@dataclass
class Served:
    """One running `kasparro serve` process."""

    process: subprocess.Popen[bytes]
    base_url: str
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines (LOG_FORMAT=json) written so far."""
        lines = self.log().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def terminate(self, timeout: float = 30.0) -> float:
        """SIGTERM; assert a clean shutdown within ``timeout``; return the seconds it took.

        Clean: the lifespan's shutdown completed and the process exited 0 or, as uvicorn
        does after a graceful shutdown, by re-raising the SIGTERM it caught (-15, i.e. 143
        in a shell).
        """
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"ignored SIGTERM for {timeout}s:\n{self.log()}") from None
        assert code in (0, -signal.SIGTERM), self.log()
        assert "Application shutdown complete." in self.log(), self.log()
        return time.monotonic() - started


def synthetic_csv(path: Path, rows: int) -> Path:
    """A CSV of ``rows`` generated rows (bench/gen_csv.py, 500 coins) at ``path``."""
    command = [sys.executable, str(REPO / "bench" / "gen_csv.py"), "--rows", str(rows)]
    subprocess.run([*command, "--coins", "500", "--output", str(path)], check=True, timeout=120)
    return path


def wait_until_serving(served: Served, timeout: float = 60.0) -> None:
    """Poll /health until the server answers (any status)."""
    with httpx.Client(base_url=served.base_url, timeout=5) as client:

        def answers() -> bool:
            assert served.process.poll() is None, served.log()
            try:
                client.get("/health")
            except httpx.TransportError:
                return False
            return True

        wait_until(answers, timeout, served.log, interval=0.1)


def _file_limit(files: int) -> Callable[[], None]:
    def limit() -> None:  # in the child, before it runs Python
        resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    return limit


def kasparro_serve(
    database_url: str, workdir: Path, name: str, **env: str
) -> contextlib.AbstractContextManager[Served]:
    """Start `kasparro serve` on a free port with BASE_ENV and ``env``; stop it on exit."""
    return _serving(database_url, workdir, name, env, None)


def kasparro_serve_with_file_limit(
    database_url: str, workdir: Path, name: str, max_files: int, **env: str
) -> contextlib.AbstractContextManager[Served]:
    """As ``kasparro_serve``, with the process's file descriptor limit (RLIMIT_NOFILE, soft
    and hard) set to ``max_files``."""
    return _serving(database_url, workdir, name, env, max_files)


@contextlib.contextmanager
def _serving(
    database_url: str, workdir: Path, name: str, env: dict[str, str], max_files: int | None
) -> Iterator[Served]:
    port = free_port()
    log_path = workdir / f"{name}.log"
    environment = {**os.environ, **BASE_ENV, "DATABASE_URL": database_url, **env}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kasparro.cli", "serve", "--port", str(port)],
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_file_limit(max_files) if max_files is not None else None,
        )
    served = Served(process, f"http://127.0.0.1:{port}", port, log_path)
    try:
        wait_until_serving(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
