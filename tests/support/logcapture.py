"""The service's logging (``configure_logging``) writing into a buffer, for a test's span."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from kasparro.logs import configure_logging
from kasparro.settings import Settings

# Loggers configure_logging touches; they are put back as they were afterwards.
TOUCHED = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "alembic")


@contextlib.contextmanager
def captured_logging(log_format: str, level: int = logging.INFO) -> Iterator[io.StringIO]:
    """``configure_logging(log_format, level, …)`` as the CLI does (LOG_MAX_VALUE_CHARS at
    its default), its handler pointed at the buffer yielded: what is read there is exactly
    what the service would print."""
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in TOUCHED
        for logger in [logging.getLogger(name)]
    }
    configure_logging(log_format, level, Settings.from_env({}).log_max_value_chars)
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        for name, (handlers, level_, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level_)
            logger.propagate = propagate
