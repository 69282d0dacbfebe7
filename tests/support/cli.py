"""Run the ``kasparro`` command line as a user would: a child process of this interpreter."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_kasparro(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``kasparro <args>`` with exactly ``env`` as its environment; its output captured as
    text, its exit status left to the caller."""
    return subprocess.run(
        [sys.executable, "-m", "kasparro.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
