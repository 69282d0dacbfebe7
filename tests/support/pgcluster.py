"""A private, throwaway PostgreSQL server for tests that stop and start the database.

Tests that take the database away (to prove the service survives its loss) must not touch
the shared server the rest of the suite uses, so they get their own: ``initdb`` into a
temporary directory, ``pg_ctl`` on a free loopback port, trust auth, run as the
``postgres`` system user when the tests run as root (PostgreSQL refuses to run as root).
``streaming_standby`` adds a hot standby of such a server: ``pg_basebackup -R`` into
another temporary directory, started on another free port, streaming from it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries directory, if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


@dataclass
class PrivateCluster:
    bin: Path
    data: Path
    port: int
    run_as: str | None
    options: str = ""

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.data / "log"),
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            + self.options,
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "immediate", "stop")


def _owned_directory(run_as: str | None) -> Path:
    root = Path(tempfile.mkdtemp(prefix="kasparro-pg-"))
    if run_as:
        shutil.chown(root, user=run_as)
    return root


@contextlib.contextmanager
def _running(cluster: PrivateCluster, root: Path) -> Iterator[PrivateCluster]:
    try:
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """initdb + start a server on a free port; stop and delete it afterwards."""
    binaries = postgres_bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    run_as = "postgres" if os.geteuid() == 0 else None
    root = _owned_directory(run_as)
    cluster = PrivateCluster(binaries, root / "data", free_port(), run_as)
    try:
        cluster._run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    with _running(cluster, root):
        yield cluster


@contextlib.contextmanager
def streaming_standby(primary: PrivateCluster) -> Iterator[PrivateCluster]:
    """A hot standby of ``primary``: ``pg_basebackup -R`` (which writes ``standby.signal``
    and the ``primary_conninfo`` to stream from) into a temporary directory, started on a
    free port with ``hot_standby_feedback`` on; stopped and deleted afterwards."""
    root = _owned_directory(primary.run_as)
    options = "-c hot_standby_feedback=on"
    standby = PrivateCluster(primary.bin, root / "data", free_port(), primary.run_as, options)
    try:
        primary._run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(standby.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        )
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    with _running(standby, root):
        yield standby
