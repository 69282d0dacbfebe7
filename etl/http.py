"""HTTP fetching with retries: one shared ``httpx.Client``, exponential backoff with jitter.

Connect errors, timeouts (the client's timeout bounds each read and also the whole response
body) and other transport errors, 429 and 5xx are retried up to
``max_retries`` times. A ``Retry-After`` header (seconds or an HTTP date) is honoured, capped
at ``retry_after_max``; otherwise the wait is ``backoff_base * 2**attempt`` scaled by a random
factor in [0.5, 1.0), capped at ``backoff_max``. A body is read with a size limit on the bytes
received and on what they decode to (``etl.http_body``). Redirects are followed here, at most
``max_redirects`` per attempt; the source's headers (its API key) are sent only to the
origin (scheme, host and port) of the URL asked for, never to another one. Other statuses, a
body over the limit and a redirect not followed fail at once, with the upstream's own error
message when it sent one. API keys travel only as request headers and never appear in a log
line or an error message (only URLs without their query do).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from etl.config import EtlConfig
from etl.errors import FetchError
from etl.http_body import BodyRefused, read_body

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504}) | frozenset(range(505, 600))
SENT_HEADERS = {"Accept-Encoding": "gzip, deflate"}
"""On every request: only the encodings ``etl.http_body`` decodes."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Bounds on one upstream request; each is a setting (README, Settings)."""

    max_body_bytes: int = 16 * 1024 * 1024
    """HTTP_MAX_BODY_BYTES: bytes received, and bytes they decode to, per response."""
    max_redirects: int = 3
    """HTTP_MAX_REDIRECTS: redirects followed per attempt; 0 = none."""

    @classmethod
    def from_config(cls, config: EtlConfig) -> FetchLimits:
        return cls(config.http_max_body_bytes, config.http_max_redirects)


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

    max_retries: int = 3
    retry_after_max: float = 30.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    sleep: Callable[[float], None] = time.sleep
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


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _shown(url: httpx.URL) -> str:
    """``url`` as logs and errors may show it: no credentials, query or fragment."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


class Fetcher:
    """GETs URLs for one source through a shared client, retrying as the policy says,
    within ``limits``."""

    def __init__(
        self,
        client: httpx.Client,
        source: str,
        policy: RetryPolicy,
        headers: Mapping[str, str] | None = None,
        *,
        limits: FetchLimits | None = None,
        log_context: Mapping[str, object] | None = None,
    ) -> None:
        self._client = client
        self._source = source
        self._policy = policy
        self._headers = dict(headers or {})
        self._limits = limits or FetchLimits()
        self._log_context = {"source": source, **(log_context or {})}  # e.g. the run_id

    def get(self, url: str, params: Mapping[str, str | int] | None = None) -> Response:
        """Return the first 2xx response; raise ``FetchError`` when retries run out."""
        attempt = 0
        while True:
            problem, wait, status = self._attempt(url, params, attempt)
            if isinstance(problem, Response):
                return problem
            if wait is None or attempt >= self._policy.max_retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise FetchError(self._source, f"GET {url}{tries}: {problem}", status_code=status)
            log.warning(
                "retrying after %.2fs: %s",
                wait,
                problem,
                extra={**self._log_context, "url": url, "attempt": attempt + 1},
            )
            self._policy.sleep(wait)
            attempt += 1

    def _body(self, reply: httpx.Response, started: float) -> bytes:
        """Read the body; the client's read timeout also bounds the whole response, so an
        upstream that trickles bytes (each read in time) cannot hold a run for ever."""
        budget = self._client.timeout.read

        def received(size: int) -> None:
            if budget is not None and time.monotonic() - started > budget:
                raise httpx.ReadTimeout(
                    f"the response took more than {budget:g}s in all", request=reply.request
                )

        return read_body(reply, self._limits.max_body_bytes, received)

    def _attempt(
        self, url: str, params: Mapping[str, str | int] | None, attempt: int
    ) -> tuple[Response | str, float | None, int | None]:
        """One request, following redirects: (response, _, _) on success, else (problem,
        wait or None, status)."""
        backoff = self._policy.backoff(attempt)
        home = _origin(httpx.URL(url))
        target = httpx.URL(url, params=params)
        redirects = 0
        try:
            while True:
                own = _origin(target) == home
                headers = {**SENT_HEADERS, **(self._headers if own else {})}
                with self._client.stream(
                    "GET", target, headers=headers, follow_redirects=False
                ) as reply:
                    if not reply.is_redirect:
                        content = self._body(reply, time.monotonic())
                        break
                following = self._follow(reply, redirects)
                if isinstance(following, str):
                    return following, None, reply.status_code
                target, redirects = following, redirects + 1
        except httpx.TimeoutException as exc:
            return f"timed out ({type(exc).__name__}: {exc})", backoff, None
        except httpx.TransportError as exc:
            return f"transport error ({type(exc).__name__}: {exc})", backoff, None
        except BodyRefused as exc:
            return str(exc), None, reply.status_code
        now = datetime.now(UTC)
        if reply.is_success:
            return Response(str(reply.url), reply.status_code, content, now), None, None
        message = upstream_message(content)
        problem = f"HTTP {reply.status_code}" + (f": {message}" if message else "")
        if reply.status_code not in RETRYABLE_STATUS:
            return problem, None, reply.status_code
        asked = retry_after_seconds(reply.headers.get("retry-after"), now)
        if asked is not None:
            return problem, min(asked, self._policy.retry_after_max), reply.status_code
        return problem, backoff, reply.status_code

    def _follow(self, reply: httpx.Response, redirects: int) -> httpx.URL | str:
        """Where a redirect leads, or why it is not followed."""
        status = reply.status_code
        try:
            target = reply.url.join(reply.headers["location"])
        except httpx.InvalidURL as exc:
            return f"HTTP {status}: a redirect to an invalid URL ({exc})"
        if target.scheme not in _DEFAULT_PORTS:
            return f"HTTP {status}: a redirect to a {target.scheme!r} URL"
        if redirects >= self._limits.max_redirects:
            return (
                f"HTTP {status}: redirect to {_shown(target)} not followed: more than "
                f"{self._limits.max_redirects} redirect(s) (HTTP_MAX_REDIRECTS)"
            )
        home = _origin(reply.request.url) == _origin(target)
        log.info(
            "following a redirect to %s%s",
            _shown(target),
            "" if home else " without the source's headers (another origin)",
            extra=self._log_context,
        )
        return target
