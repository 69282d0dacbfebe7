"""The live request and GraphQL instruments, registered in one application's registry.

Every label has a bounded set of values: routes are templates (``other`` for paths no route
matches), methods outside the standard ones are ``OTHER``, and GraphQL operation names are
capped at ``MAX_OPERATIONS`` distinct names per application (later ones count as ``other``),
because clients choose them.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_OPERATIONS = 200
MAX_OPERATION_NAME = 100


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
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def label_for(self, name: str) -> str:
        """``name`` while fewer than ``MAX_OPERATIONS`` names were seen, else ``other``."""
        with self._lock:
            if name in self._names:
                return name
            if len(self._names) < MAX_OPERATIONS:
                self._names.add(name)
                return name
        return "other"

    def observe(self, operation: str, kind: str, ok: bool, seconds: float) -> None:
        """Count one operation (``ok``: no errors) and its duration."""
        label = self.label_for(operation[:MAX_OPERATION_NAME])
        self.operations.labels(label, kind, "success" if ok else "error").inc()
        self.duration.labels(label, kind).observe(seconds)
