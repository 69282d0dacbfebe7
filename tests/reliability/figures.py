"""Figures measured by the reliability tests: a JSON file per scenario and one summary line.

The files go to ``$RELIABILITY_FIGURES_DIR`` when set, else to pytest's base temporary
directory; the line is written to the terminal even under ``-q`` so the numbers in
RELIABILITY.md come from a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ON_POSTGRESQL


def database_label() -> str:
    return "postgresql" if ON_POSTGRESQL else "sqlite"


def report(
    config: pytest.Config, scenario: str, summary: str, data: Any, label: str | None = None
) -> Path:
    """Write ``data`` as ``<scenario>-<label>.json`` and print ``summary`` on one line; the
    label is the test database's kind unless given."""
    label = label or database_label()
    folder = os.environ.get("RELIABILITY_FIGURES_DIR")
    base = Path(folder) if folder else config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    base.mkdir(parents=True, exist_ok=True)
    path = base / f"{scenario}-{label}.json"
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    line = f"[{scenario} on {label}] {summary} ({path})"
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
    else:
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")
    return path
