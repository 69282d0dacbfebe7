from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kasparro.gql.sdl import export_sdl
from tests.conftest import REPO


def test_schema_graphql_matches_the_code() -> None:
    committed = (REPO / "schema.graphql").read_text(encoding="utf-8")
    assert committed == export_sdl(), (
        "schema.graphql is stale: run `kasparro export-schema` and commit the result"
    )


@pytest.mark.slow
def test_export_schema_command_writes_the_sdl(tmp_path: Path) -> None:
    target = tmp_path / "out.graphql"
    result = subprocess.run(
        [sys.executable, "-m", "kasparro.cli", "export-schema", "--output", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == export_sdl()
    assert "type Query" in export_sdl()
