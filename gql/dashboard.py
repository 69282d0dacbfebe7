"""The dashboard: static pages at ``/`` that read everything through the public GraphQL API.

The pages (``/``, ``/spread``, ``/runs``, ``/assets/<id>``) are one HTML file; its
scripts pick the view from the path and fetch their data from ``/graphql`` in the browser, so
serving the dashboard costs the API nothing: no query runs on the server for a page, and with
``DASHBOARD=false`` none of these routes exist (``/`` is then a 404, as it was before).

Live updates come over the ``graphql-transport-ws`` WebSocket protocol at ``/graphql``
(``priceChanges``, ``etlRunEvents``); while the socket is unavailable or the schema has no
such subscription, the pages re-read their data every ``DASHBOARD_POLL_SECONDS``.

The charting library (uPlot) is vendored under ``gql/static/dashboard/vendor`` by
``.ci/vendor-dashboard`` and pinned by sha384 in the page. The page allows no inline script
or style (``Content-Security-Policy``) and cannot be framed; its files carry the same headers.
"""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from kasparro.gql.config import AppConfig

STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
ASSETS_PATH = "/dashboard-assets"
PAGES = ("/", "/spread", "/runs", "/assets/{asset_id:path}")
"""Paths that serve the page; its script shows the view the path names."""

POLL_MARKER = "{{poll_seconds}}"
GRAPHIQL_MARKER = "{{graphiql}}"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class DashboardFiles(StaticFiles):
    """The dashboard's files, each with the page's ``SECURITY_HEADERS`` (a file opened on
    its own can be neither framed nor made to run script); the page's template
    (``index.html``) is served only at the page paths, filled in, never as a file."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path == "index.html":
            raise HTTPException(status_code=404)
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def dashboard_html(config: AppConfig) -> str:
    """The page, with this application's polling interval and whether it serves GraphiQL
    (the page links its queries there) in it; read once per app."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    page = page.replace(POLL_MARKER, str(config.dashboard_poll_seconds))
    return page.replace(GRAPHIQL_MARKER, "on" if config.graphiql else "off")


def dashboard_routes(config: AppConfig) -> list[BaseRoute]:
    """The dashboard's pages and files; none when ``DASHBOARD`` is off."""
    if not config.dashboard:
        return []
    page = dashboard_html(config)

    async def show(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    return [
        *(Route(path, show, methods=["GET"]) for path in PAGES),
        Mount(ASSETS_PATH, DashboardFiles(directory=STATIC), name="dashboard-assets"),
    ]
