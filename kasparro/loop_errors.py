"""The server's event loop errors, logged at a bounded rate.

asyncio reports errors that have no caller to raise to (an ``accept()`` that fails, a
callback that raised) to the loop's exception handler, whose default logs each one on the
``asyncio`` logger with its traceback. One of them repeats without bound: when
``accept()`` fails for lack of file descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM), Python
3.11's ``BaseSelectorEventLoop._accept_connection`` reports "socket.accept() out of system
resource", removes the listening socket's reader and schedules it back in one second, but
does not stop there: it tries ``backlog`` more times in the same call (2048 with uvicorn's
default), each failing, reporting and scheduling another retry (CPython gh-151615, fixed
in later Pythons). With 300 slow clients and a limit of 256 descriptors the unpatched
server wrote 1.47 million lines (106 MB) in 12 s.

``throttled_exception_handler`` passes the first report of each kind (message, exception
type, errno) to asyncio's default handler, and then one per interval, saying how many it
held back in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kasparro.throttle import Throttle

ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


def throttled_exception_handler(throttle: Throttle) -> ExceptionHandler:
    """A loop exception handler that logs each kind of report at most once per interval."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exception = context.get("exception")
        message = str(context.get("message", ""))
        kind = (message, type(exception).__name__, getattr(exception, "errno", None))
        suppressed = throttle.admit(kind)
        if suppressed is None:
            return
        if suppressed:
            message = f"{message} ({suppressed} more like it in the last {throttle.interval:g}s)"
        loop.default_exception_handler({**context, "message": message})

    return handle
