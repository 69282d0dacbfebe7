"""A setting is declared once, on the config field it fills.

``setting(NAME, default, parse, help)`` is a dataclass field whose metadata carries the whole
declaration: the environment variable, how its text is parsed and what it accepts (the
bounds), its help, and whether its value is a secret. The field's type and default are the
setting's type and default. ``kasparro.settings`` walks the config dataclasses to read the
environment, name the variable in an error, print effective values (``kasparro settings``)
and write docs/settings.md; nothing else lists the settings.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

T = TypeVar("T")

METADATA_KEY = "kasparro.setting"


class Parser(ABC, Generic[T]):
    """Turns an environment variable's text into a value, or raises ``ValueError`` saying
    what is wrong; ``accepts`` says in words what it takes (docs/settings.md)."""

    @property
    @abstractmethod
    def accepts(self) -> str: ...

    @abstractmethod
    def __call__(self, text: str) -> T: ...

    def render(self, value: T) -> str:
        """The value as it would be written in the environment."""
        return str(value)


@dataclass(frozen=True, slots=True)
class Declaration:
    """One setting: its variable, parser, help and whether its value is a secret."""

    name: str
    parse: Parser[Any]
    help: str
    secret: bool = False
    shown_default: str | None = None
    """What docs/settings.md says the default is, when the value depends on the install."""

    def render(self, value: Any, *, mask: bool = True) -> str | None:
        """The value as text (None when unset); a secret's value is masked."""
        if value is None:
            return None
        if self.secret and mask:
            return "********"
        return self.parse.render(value)


def setting(
    name: str,
    default: T,
    parse: Parser[Any],
    help: str,
    *,
    secret: bool = False,
    shown_default: str | None = None,
) -> T:
    """A config field filled from the environment variable ``name``."""
    declaration = Declaration(name, parse, help, secret, shown_default)
    return field(default=default, metadata={METADATA_KEY: declaration})


def declaration_of(metadata: Any) -> Declaration | None:
    """The declaration in a dataclass field's metadata, if it is a setting."""
    found = metadata.get(METADATA_KEY)
    return found if isinstance(found, Declaration) else None


def _number(text: str, kind: type[int] | type[float], expected: str) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        raise ValueError(f"expected {expected}, got {text!r}") from None


@dataclass(frozen=True, slots=True)
class Integer(Parser[int]):
    minimum: int
    maximum: int | None = None

    @property
    def accepts(self) -> str:
        upper = "" if self.maximum is None else f" to {self.maximum}"
        return f"whole number, {self.minimum}{upper}" + ("" if upper else " or more")

    def __call__(self, text: str) -> int:
        number: int = _number(text, int, "a whole number")
        if number < self.minimum:
            raise ValueError(f"must be at least {self.minimum}, got {number}")
        if self.maximum is not None and number > self.maximum:
            raise ValueError(f"must be at most {self.maximum}, got {number}")
        return number


@dataclass(frozen=True, slots=True)
class Seconds(Parser[float]):
    @property
    def accepts(self) -> str:
        return "seconds, more than 0"

    def __call__(self, text: str) -> float:
        number: float = _number(text, float, "a number of seconds")
        if not number > 0 or number == float("inf"):
            raise ValueError(f"must be a positive number of seconds, got {text!r}")
        return number

    def render(self, value: float) -> str:
        return f"{value:g}"


@dataclass(frozen=True, slots=True)
class Ratio(Parser[float]):
    @property
    def accepts(self) -> str:
        return "number from 0 to 1"

    def __call__(self, text: str) -> float:
        number: float = _number(text, float, "a number from 0 to 1")
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"must be from 0 to 1, got {text!r}")
        return number

    def render(self, value: float) -> str:
        return f"{value:g}"


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True, slots=True)
class Boolean(Parser[bool]):
    @property
    def accepts(self) -> str:
        return "true or false (also 1/0, yes/no, on/off)"

    def __call__(self, text: str) -> bool:
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")

    def render(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class Choice(Parser[str]):
    allowed: tuple[str, ...]
    upper: bool = False

    @property
    def accepts(self) -> str:
        return "one of " + ", ".join(self.allowed)

    def __call__(self, text: str) -> str:
        normal = text.strip().upper() if self.upper else text.strip().lower()
        if normal not in self.allowed:
            raise ValueError(f"expected one of {', '.join(self.allowed)}, got {text!r}")
        return normal


@dataclass(frozen=True, slots=True)
class Text(Parser[str]):
    @property
    def accepts(self) -> str:
        return "text"

    def __call__(self, text: str) -> str:
        return text


@dataclass(frozen=True, slots=True)
class FilePath(Parser[Path]):
    @property
    def accepts(self) -> str:
        return "file path"

    def __call__(self, text: str) -> Path:
        if not text.strip():
            raise ValueError("must not be empty")
        return Path(text.strip())


@dataclass(frozen=True, slots=True)
class HttpUrl(Parser[str]):
    @property
    def accepts(self) -> str:
        return "http:// or https:// URL"

    def __call__(self, text: str) -> str:
        parts = urlsplit(text.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
        return text.strip().rstrip("/")


@dataclass(frozen=True, slots=True)
class DatabaseUrl(Parser[str]):
    @property
    def accepts(self) -> str:
        return "sqlite:// or postgresql:// URL"

    def __call__(self, text: str) -> str:
        try:
            url = make_url(text.strip())
        except ArgumentError:
            raise ValueError(f"not a database URL: {text!r}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"only sqlite:// and postgresql:// are supported, got {text!r}")
        return text.strip()

    def render(self, value: str) -> str:
        """The URL with its password hidden: a database URL is shown, its password never."""
        return make_url(value).render_as_string(hide_password=True)


@dataclass(frozen=True, slots=True)
class NameList(Parser[tuple[str, ...]]):
    """Comma-separated names out of a known set, lower-cased, first mention kept."""

    known: Sequence[str]
    what: str

    @property
    def accepts(self) -> str:
        return f"comma-separated {self.what}s: " + ", ".join(self.known)

    def __call__(self, text: str) -> tuple[str, ...]:
        names = [name.strip().lower() for name in text.split(",") if name.strip()]
        known = ", ".join(self.known)
        if not names:
            raise ValueError(f"names no {self.what}; known: {known}")
        unknown = [name for name in names if name not in self.known]
        if unknown:
            raise ValueError(
                f"unknown {self.what} {', '.join(map(repr, unknown))} (known: {known})"
            )
        return tuple(dict.fromkeys(names))

    def render(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


@dataclass(frozen=True, slots=True)
class Origins(Parser[tuple[str, ...]]):
    """Comma-separated web origins (``scheme://host[:port]``), or ``*`` alone."""

    @property
    def accepts(self) -> str:
        return "comma-separated origins (`scheme://host[:port]`, no path), or `*` alone"

    def __call__(self, text: str) -> tuple[str, ...]:
        origins = tuple(
            dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip())
        )
        if "*" in origins and len(origins) > 1:
            raise ValueError("* allows every origin: give it alone, or list origins without it")
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port], no path or trailing /)"
                )
        return origins

    def render(self, value: tuple[str, ...]) -> str:
        return ",".join(value)
