"""One frozen Settings object, read once from the environment and validated.

A setting is declared once, on the config field it fills (``etl.declared.setting``): the
ETL's in ``etl.config.EtlConfig``, the web application's in ``gql.config.AppConfig``, the
client connections' in ``kasparro.limits.ConnectionLimits`` and the process's own (logging,
pruning) on ``Settings`` below. This module walks those dataclasses: ``Settings.from_env``
parses every declared variable and a bad value raises ``SettingsError`` naming it;
``effective`` lists each value with where it came from (``kasparro settings``) and
``markdown`` writes docs/settings.md. The other layers never read the environment: they
receive their own config object.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal, NamedTuple

from kasparro.etl.config import EtlConfig
from kasparro.etl.declared import Choice, Declaration, Integer, Seconds, declaration_of, setting
from kasparro.gql.config import AppConfig
from kasparro.limits import ConnectionLimits

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a value the program cannot use; ``variable`` names it."""

    def __init__(self, variable: str, message: str) -> None:
        super().__init__(f"{variable}: {message}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Settings:
    """Logging and pruning.

    Every other setting is declared in the config objects it holds.
    """

    app: AppConfig = field(default_factory=AppConfig)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    retention_days: int = setting(
        "RETENTION_DAYS",
        0,
        Integer(0),
        "age in days `kasparro prune` deletes when no `--older-than` is given; 0 = none "
        "(then `--older-than` is required)",
    )
    log_repeat_interval_seconds: float = setting(
        "LOG_REPEAT_INTERVAL_SECONDS",
        10.0,
        Seconds(),
        'a server error or warning that repeats (`accept()` failing with "Too many open '
        'files", connections closed at the limits) is logged once per interval, with the '
        "count of repeats",
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "console",
        Choice(("console", "json")),
        "`json` for one JSON object per line",
    )
    log_level: str = setting(
        "LOG_LEVEL", "INFO", Choice(_LOG_LEVELS, upper=True), "least severe level logged"
    )
    log_max_value_chars: int = setting(
        "LOG_MAX_VALUE_CHARS",
        1000,
        Integer(100),
        "longest message, context value or traceback line written to the log; longer ones "
        "are cut, marked `...[N more chars]`",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Parse every declared variable from ``environ``; raise ``SettingsError``.

        An unset or empty variable takes its declared default.
        """
        settings: Settings = _build(cls, environ)
        if settings.app.default_page_size > settings.app.max_page_size:
            raise SettingsError(
                "DEFAULT_PAGE_SIZE",
                f"{settings.app.default_page_size} is larger than MAX_PAGE_SIZE "
                f"{settings.app.max_page_size}",
            )
        return settings

    def etl_config(self) -> EtlConfig:
        return self.app.etl

    def app_config(self) -> AppConfig:
        return self.app

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]


class Declared(NamedTuple):
    """A declared setting and where it lives: the field path from ``Settings`` (e.g.
    ``("app", "etl", "sources")``) and the config class that holds it."""

    path: tuple[str, ...]
    owner: type[Any]
    declaration: Declaration


def _nested_configs(config: type[Any]) -> dict[str, type[Any]]:
    hints = typing.get_type_hints(config)
    return {
        item.name: hints[item.name]
        for item in fields(config)
        if declaration_of(item.metadata) is None and is_dataclass(hints[item.name])
    }


def declared(config: type[Any] = Settings, path: tuple[str, ...] = ()) -> Iterator[Declared]:
    """Every setting under ``config``, in field order, nested configs where they stand.

    A field that is neither a setting nor a nested config is a mistake: ``TypeError``.
    """
    nested = _nested_configs(config)
    for item in fields(config):
        declaration = declaration_of(item.metadata)
        if declaration is not None:
            yield Declared((*path, item.name), config, declaration)
        elif item.name in nested:
            yield from declared(nested[item.name], (*path, item.name))
        else:
            raise TypeError(f"{config.__name__}.{item.name} is neither a setting nor a config")


def _build(config: type[Any], environ: Mapping[str, str]) -> Any:
    values: dict[str, Any] = {}
    nested = _nested_configs(config)
    for item in fields(config):
        declaration = declaration_of(item.metadata)
        if declaration is None:
            values[item.name] = _build(nested[item.name], environ)
            continue
        raw = environ.get(declaration.name)
        if raw is None or raw.strip() == "":
            continue
        try:
            values[item.name] = declaration.parse(raw)
        except ValueError as exc:
            raise SettingsError(declaration.name, str(exc)) from None
    return config(**values)


def sections() -> dict[type[Any], list[Declared]]:
    """The declared settings grouped by the config class that holds them."""
    grouped: dict[type[Any], list[Declared]] = {}
    for item in declared():
        grouped.setdefault(item.owner, []).append(item)
    return grouped


DECLARED: tuple[Declared, ...] = tuple(item for items in sections().values() for item in items)
"""Every declared setting, in the order of docs/settings.md and ``kasparro settings``."""

SETTINGS: tuple[Declaration, ...] = tuple(item.declaration for item in DECLARED)


class Effective(NamedTuple):
    """A setting's value in use: as text (a secret masked; None when unset) and its source."""

    name: str
    value: str | None
    source: Literal["env", "default"]
    secret: bool


def effective(settings: Settings, environ: Mapping[str, str]) -> list[Effective]:
    """Each setting's value in ``settings``, and whether ``environ`` set it."""
    rows = []
    for item in DECLARED:
        value: Any = settings
        for name in item.path:
            value = getattr(value, name)
        declaration = item.declaration
        given = environ.get(declaration.name, "").strip() != ""
        rows.append(
            Effective(
                declaration.name,
                declaration.render(value),
                "env" if given else "default",
                declaration.secret,
            )
        )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _row(declaration: Declaration, default: Any) -> str:
    shown = declaration.shown_default
    if shown is None:
        text = declaration.render(default, mask=False)
        shown = "unset" if text is None else f"`{text}`"
    meaning = declaration.help + ("; a secret, never shown" if declaration.secret else "")
    cells = [f"`{declaration.name}`", shown, declaration.parse.accepts, meaning]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def markdown() -> str:
    """docs/settings.md: one table per config, from the declarations."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated by `kasparro settings --markdown > docs/settings.md` from the",
        "     declarations in the code; a test fails when this file drifts from them. -->",
        "",
        "All settings are environment variables, read once at start and validated; an empty",
        "value counts as unset. A bad value stops every command with one line naming the",
        "variable. `kasparro settings` prints the value of each in effect and where it came",
        "from (`--json` for a machine), secrets masked.",
    ]
    for owner, items in sections().items():
        title = (owner.__doc__ or owner.__name__).strip().splitlines()[0].rstrip(".")
        lines += ["", f"## {title}", "", "| variable | default | accepts | meaning |"]
        lines.append("|---|---|---|---|")
        defaults = {each.name: each.default for each in fields(owner)}
        for item in items:
            lines.append(_row(item.declaration, defaults[item.path[-1]]))
    return "\n".join(lines) + "\n"
