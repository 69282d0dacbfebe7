"""GraphiQL served entirely from this application, so it works offline.

Strawberry's own GraphiQL page loads React and GraphiQL from a CDN. This page is the same
page with those assets vendored under ``gql/static/graphiql`` (unmodified MIT-licensed
npm files; see LICENSES.txt there; the sha384 integrity pins are Strawberry's own) and
served at ``/graphiql-assets/``.

The page differs from Strawberry's in one respect: it keeps no request headers (they
carry the ``Authorization`` token). Headers are not read from a ``?headers=`` link, and
GraphiQL's state (editors, tabs, history, favourites) goes through a store that drops them
before anything reaches ``localStorage``; what an older page left there is cleaned on load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
ASSETS_PATH = "/graphiql-assets"


def graphiql_html() -> str:
    """The GraphiQL page (read once per application)."""
    return (STATIC / "graphiql.html").read_text(encoding="utf-8")


def graphiql_assets() -> StaticFiles:
    """The ASGI app that serves the vendored GraphiQL files."""
    return StaticFiles(directory=STATIC / "graphiql")
