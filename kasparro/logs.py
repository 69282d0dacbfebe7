"""Logging setup: human-readable console lines or one JSON object per line.

Log lines carry text from clients and upstreams (a request path, a GraphQL error, an
upstream's error message), so neither format lets such text start a line of its own: JSON
escapes every control and non-ASCII character, and the console format escapes every
character that is not printable (and the backslash, so an escape cannot be faked) in the
message and in each context value, and indents every line of a traceback. In the console
format a line that does not start with a space is always the start of a record.

Nor can such text make a record long: the message, each context value and each line of a
traceback are cut at ``max_value_chars`` (LOG_MAX_VALUE_CHARS) characters, saying how much
was cut (``...[N more chars]``), so one request's access and error lines hold a bounded number
of bytes whatever the client sent (a 60 KB field or operation name included).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is context.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI copy of the message
}


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
TRACEBACK_INDENT = "    "


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def clipped(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, saying how many more it had."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}...[{len(text) - max_chars} more chars]"


def printable(text: str) -> str:
    """``text`` with backslashes and non-printable characters (controls, line and paragraph
    separators, bidi overrides, lone surrogates, ...) written as Python escapes."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(char if char.isprintable() and char != "\\" else _escape(char) for char in text)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class _BoundedFormatter(logging.Formatter):
    """Cuts the message, context values and traceback lines at ``max_value_chars``."""

    def __init__(self, max_value_chars: int) -> None:
        super().__init__()
        self.max_value_chars = max_value_chars

    def clip(self, value: object) -> str:
        return clipped(str(value), self.max_value_chars)

    def traceback(self, record: logging.LogRecord) -> list[str]:
        assert record.exc_info
        return [self.clip(line) for line in self.formatException(record.exc_info).splitlines()]


class JsonFormatter(_BoundedFormatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.clip(record.getMessage()),
        }
        entry.update(
            (key, self.clip(value) if isinstance(value, str) else value)
            for key, value in _context(record).items()
        )
        if record.exc_info:
            entry["exception"] = "\n".join(self.traceback(record))
        return json.dumps(entry, default=self.clip)


class ConsoleFormatter(_BoundedFormatter):
    """``time level logger: message key=value …`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        context = " ".join(
            f"{key}={printable(self.clip(value))}" for key, value in _context(record).items()
        )
        message = printable(self.clip(record.getMessage()))
        line = f"{stamp} {record.levelname:<7} {record.name}: {message}"
        if context:
            line = f"{line}  {context}"
        if record.exc_info:
            trace = self.traceback(record)
            line = "\n".join([line, *(TRACEBACK_INDENT + printable(part) for part in trace)])
        return line


def configure_logging(log_format: str, level: int, max_value_chars: int) -> None:
    """Send every logger (ours, uvicorn's, SQLAlchemy's) to stderr in one format, each
    message and value cut at ``max_value_chars`` (LOG_MAX_VALUE_CHARS)."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter if log_format == "json" else ConsoleFormatter
    handler.setFormatter(formatter(max_value_chars))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Request logs come from our own middleware with request ids; uvicorn's are redundant.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
