"""The route template a request matched, read from the ASGI scope after routing."""

from __future__ import annotations

from starlette.routing import Mount
from starlette.types import Scope

UNMATCHED = "other"


def route_template(scope: Scope) -> str:
    """``/data``, ``/records/{id}``, ``/static/{path}``… or ``other`` when no route matched.

    Starlette's router stores the route it chose in ``scope["route"]`` (the innermost one
    when routers are mounted in routers); mounts in between add their matched prefix to
    ``root_path``. A route that matched only partially (a 405) still names its template.
    """
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    root_path: str = scope.get("root_path", "")
    prefix = root_path[len(scope.get("app_root_path", root_path)) :]
    if isinstance(route, Mount):
        # A mounted app without routes of its own (static files): root_path holds the mount.
        return f"{prefix}/{{path}}"
    return f"{prefix}{path}"
