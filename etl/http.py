"""HTTP fetching: retries with backoff, a total deadline per attempt, bounded bodies and
redirects that keep the API keys at home.

One shared ``httpx.Client`` (``upstream_client``) serves a run. Each attempt (connecting,
every redirect, the response headers and the whole body) must end within
``FetchLimits.deadline_seconds``; a stop request ends it at once, whatever it is doing
(``etl.deadline``), and the fetch raises ``StoppedError``. A body is read with a size limit
on the bytes received and on what they decode to (``etl.http_body``). Redirects are followed
here, at most ``max_redirects`` per attempt; the source's headers (its API key) are sent only
to the origin (scheme, host and port) of the URL asked for, never to another one.

Connect errors, timeouts, other transport errors, 429 and 5xx are retried up to
``max_retries`` times. A ``Retry-After`` header (seconds or an HTTP date) is honoured, capped
at ``retry_after_max``; otherwise the wait is ``backoff_base * 2**attempt`` scaled by a random
factor in [0.5, 1.0), capped at ``backoff_max``. Other statuses, a body over the limit and a
redirect not followed fail at once, with the upstream's own error message when it sent one.
API keys travel only as request headers and never appear in a log line or an error message
(only URLs without their query do).
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import NamedTuple

import httpx

from kasparro.etl.config import EtlConfig
from kasparro.etl.deadline import ExchangeCut, Watch, run_with_deadline
from kasparro.etl.errors import FetchError, StoppedError
from kasparro.etl.http_body import BodyRefused, read_body

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))
SENT_HEADERS = {"Accept-Encoding": "gzip, deflate", "Connection": "close"}
"""On every request: only the encodings ``etl.http_body`` decodes, and a connection of the
attempt's own (never one kept alive from another), so a cut can shut its socket."""

_DEFAULT_PORTS = {"http": 80, "https": 443}

_DECLARED = EtlConfig()
"""The declared defaults of the settings below (``etl.config``), not restated here."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one upstream request; each is a setting (docs/settings.md)."""

    deadline_seconds: float = _DECLARED.http_timeout_seconds
    """HTTP_TIMEOUT_SECONDS: one attempt in all (connect, redirects, headers, body)."""
    max_body_bytes: int = _DECLARED.http_max_body_bytes
    """HTTP_MAX_BODY_BYTES: bytes received, and bytes they decode to, per response."""
    max_redirects: int = _DECLARED.http_max_redirects
    """HTTP_MAX_REDIRECTS: redirects followed per attempt; 0 = none."""
    max_codings: int = 2
    """HTTP_MAX_CONTENT_CODINGS: content codings decoded per response (``gzip, gzip``)."""

    @classmethod
    def from_config(cls, config: EtlConfig) -> FetchLimits:
        return cls(
            config.http_timeout_seconds,
            config.http_max_body_bytes,
            config.http_max_redirects,
            config.http_max_content_codings,
        )


def upstream_client(limits: FetchLimits) -> httpx.Client:
    """The client a run fetches with: redirects are left to ``Fetcher``, and no connection
    is kept alive (each attempt opens its own)."""
    return httpx.Client(
        timeout=limits.deadline_seconds,
        follow_redirects=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


@dataclass(frozen=True, slots=True)
class Response:
    """A final upstream response: what was asked, what came back, and when."""

    url: str
    status_code: int
    content: bytes
    fetched_at: datetime


@dataclass(slots=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    max_retries: int = _DECLARED.http_max_retries
    retry_after_max: float = _DECLARED.http_retry_after_max_seconds
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    random: Callable[[], float] = field(default_factory=lambda: random.Random().random)

    def backoff(self, attempt: int) -> float:
        delay = min(self.backoff_base * 2**attempt, self.backoff_max)
        return float(delay * (0.5 + self.random() / 2))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait, or None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def upstream_message(content: bytes) -> str | None:
    """The error text of a ``{"status": {"error_message": …}}`` or ``{"error": …}`` body."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(status, dict) and isinstance(status.get("error_message"), str):
        return str(status["error_message"]).strip()
    error = body.get("error")
    return error.strip() if isinstance(error, str) else None


class _Failed(NamedTuple):
    """Why an attempt brought no 2xx response, and whether to try again."""

    problem: str
    retry: bool
    status: int | None = None
    retry_after: float | None = None


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _shown(url: httpx.URL) -> str:
    """``url`` as logs and errors may show it: no credentials, query or fragment."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


class Fetcher:
    """GETs URLs for one source through a shared client, retrying as the policy says,
    within ``limits``; ``stop`` (when set) ends a fetch at once with ``StoppedError``."""

    def __init__(
        self,
        client: httpx.Client,
        source: str,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        *,
        limits: FetchLimits | None = None,
        stop: threading.Event | None = None,
        log_context: Mapping[str, object] | None = None,
    ) -> None:
        self._client = client
        self._source = source
        self._policy = policy
        self._headers = dict(headers or {})
        self._limits = limits or FetchLimits()
        self._stop = stop or threading.Event()
        self._log_context = {"source": source, **(log_context or {})}  # e.g. the run_id

    def get(self, url: str, params: Mapping[str, str | int] | None = None) -> Response:
        """Return the first 2xx response; raise ``FetchError`` when retries run out, or
        ``StoppedError`` when ``stop`` is set."""
        attempt = 0
        while True:
            outcome = self._attempt(url, params)
            if isinstance(outcome, Response):
                return outcome
            wait = self._wait(outcome, attempt)
            if wait is None or attempt >= self._policy.max_retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise FetchError(
                    self._source, f"GET {url}{tries}: {outcome.problem}", status_code=outcome.status
                )
            log.warning(
                "retrying after %.2fs: %s",
                wait,
                outcome.problem,
                extra={**self._log_context, "url": url, "attempt": attempt + 1},
            )
            if self._stop.wait(wait):
                raise StoppedError(self._source)
            attempt += 1

    def _wait(self, failed: _Failed, attempt: int) -> float | None:
        """Seconds to wait before the next attempt; None when it is not worth one."""
        if not failed.retry:
            return None
        if failed.retry_after is not None:
            return min(failed.retry_after, self._policy.retry_after_max)
        return self._policy.backoff(attempt)

    def _attempt(self, url: str, params: Mapping[str, str | int] | None) -> Response | _Failed:
        """One attempt, cut at the deadline or on a stop request."""
        if self._stop.is_set():
            raise StoppedError(self._source)
        deadline = self._limits.deadline_seconds
        exchange = functools.partial(self._exchange, url, params)
        try:
            return run_with_deadline(exchange, deadline, self._stop, name=f"fetch-{self._source}")
        except ExchangeCut as cut:
            if cut.stopped:
                raise StoppedError(self._source) from None
            return _Failed(
                f"timed out: no complete response within {deadline:g}s "
                f"(HTTP_TIMEOUT_SECONDS); it was {cut.phase}",
                retry=True,
            )

    def _exchange(
        self, url: str, params: Mapping[str, str | int] | None, watch: Watch
    ) -> Response | _Failed:
        """Request ``url``, follow redirects, read the body (in the deadline's worker)."""
        home = _origin(httpx.URL(url))
        target = httpx.URL(url, params=params)
        redirects = 0
        try:
            while True:
                own = _origin(target) == home
                request = self._client.build_request(
                    "GET",
                    target,
                    headers={**SENT_HEADERS, **(self._headers if own else {})},
                    # httpx's own timeouts only end a worker left connecting after a cut.
                    timeout=self._limits.deadline_seconds + 1.0,
                    extensions={"trace": watch.trace},
                )
                reply = self._client.send(request, stream=True, follow_redirects=False)
                try:
                    if not reply.is_redirect:
                        limits = self._limits
                        content = read_body(
                            reply, limits.max_body_bytes, watch.received, limits.max_codings
                        )
                        break
                finally:
                    reply.close()
                following = self._follow(reply, redirects, home)
                if isinstance(following, _Failed):
                    return following
                target, redirects = following, redirects + 1
        except httpx.TimeoutException as exc:
            return _Failed(f"timed out ({type(exc).__name__}: {exc})", retry=True)
        except httpx.TransportError as exc:
            return _Failed(f"transport error ({type(exc).__name__}: {exc})", retry=True)
        except BodyRefused as exc:
            return _Failed(str(exc), retry=False, status=reply.status_code)
        return self._outcome(reply, content)

    def _follow(
        self, reply: httpx.Response, redirects: int, home: tuple[str, str, int | None]
    ) -> httpx.URL | _Failed:
        """Where a redirect leads, or why it is not followed; ``home`` is the origin of the
        URL asked for, the only one the source's headers go to."""
        status = reply.status_code
        try:
            target = reply.url.join(reply.headers["location"])
        except httpx.InvalidURL as exc:
            return _Failed(f"HTTP {status}: a redirect to an invalid URL ({exc})", False, status)
        if target.scheme not in _DEFAULT_PORTS:
            return _Failed(f"HTTP {status}: a redirect to a {target.scheme!r} URL", False, status)
        if redirects >= self._limits.max_redirects:
            return _Failed(
                f"HTTP {status}: redirect to {_shown(target)} not followed: more than "
                f"{self._limits.max_redirects} redirect(s) (HTTP_MAX_REDIRECTS)",
                False,
                status,
            )
        log.info(
            "following a redirect to %s%s",
            _shown(target),
            "" if _origin(target) == home else " without the source's headers (another origin)",
            extra=self._log_context,
        )
        return target

    def _outcome(self, reply: httpx.Response, content: bytes) -> Response | _Failed:
        """The response, or a failure for a non-2xx status (retried when it is worth it)."""
        now = datetime.now(UTC)
        if reply.is_success:
            return Response(str(reply.url), reply.status_code, content, now)
        message = upstream_message(content)
        problem = f"HTTP {reply.status_code}" + (f": {message}" if message else "")
        if reply.status_code not in RETRYABLE_STATUS:
            return _Failed(problem, False, reply.status_code)
        asked = retry_after_seconds(reply.headers.get("retry-after"), now)
        return _Failed(problem, True, reply.status_code, asked)
