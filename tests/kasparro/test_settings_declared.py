"""Each setting is declared once, on its config field; everything else is derived from it:
the parsing and its errors, the config objects, ``kasparro settings`` and docs/settings.md."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, fields
from typing import Any

import pytest

from kasparro.etl.config import EtlConfig
from kasparro.etl.declared import (
    Boolean,
    Choice,
    DatabaseUrl,
    Declaration,
    FilePath,
    HttpUrl,
    Integer,
    NameList,
    Origins,
    Parser,
    Percent,
    Ratio,
    Seconds,
    Text,
    setting,
)
from kasparro.gql.config import AppConfig
from kasparro.gql.live_config import SubscriptionConfig
from kasparro.limits import ConnectionLimits
from kasparro.settings import DECLARED, SETTINGS, Settings, declared, markdown
from tests.conftest import REPO
from tests.support.cli import run_kasparro

CONFIGS = (Settings, AppConfig, EtlConfig, SubscriptionConfig, ConnectionLimits)
NESTED = {"app", "etl", "subscriptions", "connections"}


def other_value(parse: Parser[Any], default: Any) -> str:
    """A valid value of a setting, as environment text, that is not its default."""
    if isinstance(parse, Boolean):
        return parse.render(not default)
    if isinstance(parse, Integer):
        return str(default + 1 if parse.maximum is None or default < parse.maximum else 1)
    if isinstance(parse, Seconds | Ratio | Percent):
        return parse.render(default / 2)
    if isinstance(parse, Choice):
        return next(value for value in parse.allowed if value != default)
    if isinstance(parse, NameList):
        return parse.known[-1]
    if isinstance(parse, FilePath):
        return "/srv/elsewhere.csv"
    if isinstance(parse, HttpUrl):
        return "http://127.0.0.1:9/elsewhere"
    if isinstance(parse, DatabaseUrl):
        return "postgresql://u@db.internal/elsewhere"
    if isinstance(parse, Text):
        return "t0ken"
    if isinstance(parse, Origins):
        return "https://app.example"
    raise AssertionError(f"no sample value for {type(parse).__name__}: add one here")


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    value: Any = settings
    for name in path:
        value = getattr(value, name)
    return value


def test_every_config_field_is_a_declared_setting_or_a_nested_config() -> None:
    leaves = sum(1 for config in CONFIGS for item in fields(config) if item.name not in NESTED)
    assert len(DECLARED) == leaves
    names = [declaration.name for declaration in SETTINGS]
    assert len(names) == len(set(names))
    assert all(declaration.name.isupper() and declaration.help for declaration in SETTINGS)

    @dataclass(frozen=True)
    class Forgotten:
        declared: int = setting("DECLARED_ONE", 1, Integer(0), "declared")
        forgotten: int = 2

    with pytest.raises(TypeError, match=r"Forgotten\.forgotten is neither a setting nor a config"):
        list(declared(Forgotten))


@pytest.mark.parametrize("item", DECLARED, ids=lambda item: item.declaration.name)
def test_each_variable_reaches_its_field_and_only_it(item: Any) -> None:
    defaults = Settings()
    declaration: Declaration = item.declaration
    text = other_value(declaration.parse, value_at(defaults, item.path))
    settings = Settings.from_env({declaration.name: text})
    assert value_at(settings, item.path) == declaration.parse(text)
    assert value_at(settings, item.path) != value_at(defaults, item.path)
    changed = [
        other.path
        for other in DECLARED
        if value_at(settings, other.path) != value_at(defaults, other.path)
    ]
    assert changed == [item.path]


def test_docs_settings_md_is_generated_from_the_declarations() -> None:
    docs = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    assert docs == markdown(), (
        "docs/settings.md drifted: kasparro settings --markdown > docs/settings.md"
    )
    rows = [line for line in docs.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [declaration.name for declaration in SETTINGS]
    assert "| `HTTP_MAX_BODY_BYTES` | `16777216` | whole number, 1024 or more |" in docs
    assert "| `COINGECKO_PAGES` | `1` | whole number, 1 to 100 |" in docs
    assert "| `ADMIN_TOKEN` | unset | text |" in docs


def kasparro(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value for key, value in os.environ.items() if key not in {d.name for d in SETTINGS}
    }
    return run_kasparro(*args, env={**clean, **env})


@pytest.mark.slow
def test_settings_command_prints_effective_values_secrets_masked() -> None:
    env = {
        "ADMIN_TOKEN": "s3cret-token",
        "DATABASE_URL": "postgresql://kasparro:hunter2@db.internal:5432/kasparro",
        "COINGECKO_PAGES": " 4 ",
    }
    table = kasparro("settings", **env)
    assert table.returncode == 0, table.stderr
    lines = {line.split()[0]: line.split()[1:] for line in table.stdout.splitlines()}
    assert list(lines) == [declaration.name for declaration in SETTINGS]
    assert lines["ADMIN_TOKEN"] == ["env", "********"]
    assert lines["DATABASE_URL"] == ["env", "postgresql://kasparro:***@db.internal:5432/kasparro"]
    assert lines["COINGECKO_PAGES"] == ["env", "4"]
    assert lines["COINGECKO_API_KEY"] == ["default", "unset"]
    assert lines["HTTP_TIMEOUT_SECONDS"] == ["default", "10"]
    assert "s3cret-token" not in table.stdout and "hunter2" not in table.stdout

    as_json = kasparro("settings", "--json", **env)
    rows = {row["name"]: row for row in json.loads(as_json.stdout)}
    assert rows["ADMIN_TOKEN"] == {
        "name": "ADMIN_TOKEN",
        "value": "********",
        "source": "env",
        "secret": True,
    }
    assert rows["COINGECKO_API_KEY"]["value"] is None
    assert rows["ETL_SOURCES"] == {
        "name": "ETL_SOURCES",
        "value": "coinpaprika,coingecko,csv,csv2",
        "source": "default",
        "secret": False,
    }
    assert "s3cret-token" not in as_json.stdout

    docs = kasparro("settings", "--markdown")
    assert docs.stdout == markdown()


@pytest.mark.slow
def test_settings_command_names_a_bad_variable() -> None:
    result = kasparro("settings", MAX_QUERY_DEPTH="deep")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "kasparro: configuration error: MAX_QUERY_DEPTH: expected a whole number, got 'deep'"
    )
