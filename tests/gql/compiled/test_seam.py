"""Strawberry's internals are reached only from ``gql.compiled.seam``,
and Strawberry is pinned to the minor version these tests run on."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
INTERNALS = re.compile(
    r"(?<!self)\._schema\b|from strawberry\.schema\.schema import|def execute_single\b"
)
"""The graphql-core schema Strawberry keeps private, its document validation, its view's
per-request execution."""


def test_only_the_compiled_package_touches_strawberry_internals() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for package in ("gql", "kasparro", "etl", "db")
        for path in sorted((REPO / package).rglob("*.py"))
        if path.parent != REPO / "gql" / "compiled"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert found == []
    seam = (REPO / "gql" / "compiled" / "seam.py").read_text()
    assert INTERNALS.search(seam)  # the pattern still finds what it looks for


def test_strawberry_is_pinned_to_the_minor_version_installed() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    [pin] = [d for d in project["project"]["dependencies"] if d.startswith("strawberry-graphql")]
    low, high = re.fullmatch(r"strawberry-graphql>=([\d.]+),<([\d.]+)", pin).groups()  # type: ignore[union-attr]
    installed = tuple(map(int, version("strawberry-graphql").split(".")))
    assert tuple(map(int, low.split("."))) <= installed < tuple(map(int, high.split(".")))
    assert high.split(".")[:1] == low.split(".")[:1]
    assert int(high.split(".")[1]) == int(low.split(".")[1]) + 1  # one minor version
