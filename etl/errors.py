"""The ETL's exceptions.

The hierarchy::

    EtlError                      anything the ETL raises on purpose
    ├── UnknownSourceError        (also a ValueError) a source name the ETL does not know
    ├── SourceError(source)       one source could not be processed; the run goes on
    │   ├── FetchError            a fetch failed after its retries (timeouts included), or at
    │   │                         once: a status never retried, a body over the size limit or
    │   │                         in an encoding not decoded, a redirect not followed
    │   ├── SchemaDriftError      a CSV header lacks required columns; more of the input
    │   │                         rejected than ETL_MAX_REJECT_RATIO allows
    │   ├── NoUsablePageError     every API response fetched was rejected as a whole
    │   ├── NoItemsError          the API answered, but with no items at all (``[]``)
    │   ├── InputMissingError     a configured input file does not exist
    │   └── StoppedError          the run was asked to stop; the source ended at a batch
    │                             boundary, or at once in the middle of a fetch
    └── RecordRejected(reason, kind)  one row or item failed validation; it goes to ``rejects``

``SourceError`` is caught at the source boundary by the pipeline: the source is recorded as
``failed`` with the message, and the other sources still run. ``RecordRejected`` is caught per
row/item and never leaves the validation step. The fetch layer's own signals
(``etl.deadline.ExchangeCut``, ``etl.http_body.BodyRefused``) become ``FetchError`` or
``StoppedError`` in ``etl.http`` and never leave it.
"""

from __future__ import annotations


class EtlError(Exception):
    """Base class of every error the ETL raises deliberately."""


class UnknownSourceError(EtlError, ValueError):
    """A requested source name is not one the ETL knows."""

    def __init__(self, unknown: list[str], known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown source {', '.join(map(repr, unknown))} (known: {', '.join(known)})"
        )
        self.unknown = unknown
        self.known = known


class SourceError(EtlError):
    """Processing of one source failed; ``source`` names it."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return self.message


class FetchError(SourceError):
    """An upstream request failed after all retries, or with a failure that is not retried
    (a status, a body over the limit or not decodable, a redirect not followed)."""

    def __init__(self, source: str, message: str, *, status_code: int | None = None) -> None:
        super().__init__(source, message)
        self.status_code = status_code


class SchemaDriftError(SourceError):
    """The input's shape is not what the source expects: missing CSV columns, non-array JSON,
    or so many rejects that the source's format has likely changed."""


class NoUsablePageError(SourceError):
    """Every response an API source fetched was rejected as a whole (not JSON, not the
    expected shape): the source loaded nothing. Each response is in ``rejects``."""

    def __init__(self, source: str) -> None:
        super().__init__(source, "no usable page: every response was rejected (see rejects)")


class NoItemsError(SourceError):
    """An API source's usable responses held no items at all (``[]``): an upstream that
    answers so is down, not empty, so the source fails rather than succeed with 0 rows."""

    def __init__(self, source: str, pages: int) -> None:
        held = "the response was" if pages == 1 else f"all {pages} usable responses were"
        super().__init__(source, f"{source} answered no items: {held} an empty JSON array")


class InputMissingError(SourceError):
    """A configured input file does not exist or cannot be read."""


class StoppedError(SourceError):
    """The run was asked to stop; work committed so far is kept."""

    def __init__(self, source: str) -> None:
        super().__init__(
            source, "stopped: the run was asked to stop (work up to the last batch is kept)"
        )


class RecordRejected(EtlError):
    """One row or item is invalid; ``reason`` says why in a sentence a person can act on.

    ``kind`` is the reason without the offending value (``current_price is missing``,
    ``timestamp is not ISO-8601``): rejects are tallied by it to name a likely schema drift.
    It defaults to ``reason`` for reasons that quote no value.
    """

    def __init__(self, reason: str, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = reason if kind is None else kind
