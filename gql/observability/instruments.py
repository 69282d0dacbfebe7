"""The live request and GraphQL instruments, registered in one application's registry.

Every label has a bounded set of values: routes are templates (``other`` for paths no route
matches), methods outside the standard ones are ``OTHER``, and GraphQL operation names, which
clients choose, are at most ``MAX_OPERATIONS`` per application: a name earns its label by
succeeding and keeps it by being used (``gql.observability.labels``); the others count as
``other``. ``anonymous`` and ``unknown`` (no name, no operation) are always labels.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Histogram

from kasparro.gql.observability.labels import OperationLabels

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_OPERATIONS = 200
MAX_OPERATION_NAME = 100
CANDIDATE_NAMES = 5 * MAX_OPERATIONS
"""Names without a label whose successes are counted (``OperationLabels``)."""
RESERVED = frozenset({"anonymous", "unknown"})
KINDS = ("query", "mutation", "subscription", "unknown")
STATUSES = ("success", "error")


class HttpMetrics:
    """``kasparro_http_requests_total`` and ``kasparro_http_request_duration_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "kasparro_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ("route", "method", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "kasparro_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ("route", "method"),
            registry=registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        method = method if method in METHODS else "OTHER"
        self.requests.labels(route, method, str(status)).inc()
        self.duration.labels(route, method).observe(seconds)


class GraphQLMetrics:
    """``kasparro_graphql_operations_total`` and ``kasparro_graphql_operation_duration_seconds``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.operations = Counter(
            "kasparro_graphql_operations",
            "GraphQL operations, by operation name (anonymous when unnamed), type and status.",
            ("operation", "type", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "kasparro_graphql_operation_duration_seconds",
            "Time to parse, validate and execute a GraphQL operation, by name and type.",
            ("operation", "type"),
            registry=registry,
        )
        self.labels = OperationLabels(MAX_OPERATIONS, CANDIDATE_NAMES, on_evict=self._forget)

    def _forget(self, name: str) -> None:
        """Remove the series of a name that lost its label (older prometheus_client
        versions raise KeyError for a series that was never written)."""
        for kind in KINDS:
            with contextlib.suppress(KeyError):
                self.duration.remove(name, kind)
            for status in STATUSES:
                with contextlib.suppress(KeyError):
                    self.operations.remove(name, kind, status)

    def observe(self, operation: str, kind: str, ok: bool, seconds: float) -> None:
        """Count one operation (``ok``: no errors) and its duration."""
        name = operation[:MAX_OPERATION_NAME]
        label = name if name in RESERVED else self.labels.label(name, ok)
        self.operations.labels(label, kind, "success" if ok else "error").inc()
        self.duration.labels(label, kind).observe(seconds)
