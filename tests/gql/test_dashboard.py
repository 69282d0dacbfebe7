"""The dashboard's routes and files: served with its security headers at each page path,
absent with DASHBOARD=false, and its vendored charting library the bytes the page pins."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest
from starlette.testclient import TestClient

from kasparro.gql.app import create_app
from kasparro.gql.dashboard import ASSETS_PATH, SECURITY_HEADERS, STATIC
from tests.conftest import make_settings
from tests.support.servers import serve_in_thread

PAGES = ("/", "/spread", "/runs", "/assets/bitcoin", "/assets/wrapped%2Fbitcoin")
INDEX = (STATIC / "index.html").read_text(encoding="utf-8")


def client_for(database_url: str, **env: str) -> TestClient:
    return TestClient(create_app(make_settings(database_url, **env).app_config()))


@pytest.mark.parametrize("path", PAGES)
def test_each_page_path_serves_the_dashboard(database_url: str, path: str) -> None:
    with client_for(database_url, DASHBOARD_POLL_SECONDS="7") as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<meta name="kasparro-poll-seconds" content="7" />' in response.text
    assert '<meta name="kasparro-graphiql" content="on" />' in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_the_pages_scripts_and_styles_are_served(database_url: str) -> None:
    with client_for(database_url) as client:
        for name in re.findall(r'(?:src|href)="(/dashboard-assets/[^"]+)"', INDEX):
            response = client.get(name)
            assert response.status_code == 200, name
        for module in STATIC.glob("*.js"):
            assert client.get(f"{ASSETS_PATH}/{module.name}").status_code == 200


def test_the_page_says_when_there_is_no_graphiql_to_link_to(database_url: str) -> None:
    with client_for(database_url, GRAPHIQL="false") as client:
        page = client.get("/").text
    assert '<meta name="kasparro-graphiql" content="off" />' in page


def test_dashboard_off_leaves_slash_as_it_was(database_url: str) -> None:
    """DASHBOARD=false: `/` is the JSON 404 any unknown path gets; no page, no files."""
    with client_for(database_url, DASHBOARD="false") as client:
        for path in (*PAGES, f"{ASSETS_PATH}/app.js"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "Not Found"
        assert client.get("/graphql?query={health{db}}").status_code == 200


def test_the_page_has_no_inline_script_or_style() -> None:
    """The Content-Security-Policy allows scripts and styles from files only."""
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", INDEX) == []
    assert "<style" not in INDEX and " style=" not in INDEX
    assert re.findall(r"\son[a-z]+=", INDEX) == []  # no inline event handlers
    assert "http://" not in INDEX and "https://" not in INDEX  # nothing from elsewhere


def test_the_vendored_files_are_the_ones_the_page_pins() -> None:
    """`.ci/vendor-dashboard` copies uPlot from npm; the page pins each file by sha384."""
    pins = re.findall(
        r'(?:src|href)="/dashboard-assets/(vendor/[^"]+)"\s+integrity="([^"]+)"', INDEX
    )
    assert {name for name, _ in pins} == {"vendor/uPlot.iife.min.js", "vendor/uPlot.min.css"}
    for name, integrity in pins:
        digest = hashlib.sha384((STATIC / name).read_bytes()).digest()
        assert integrity == "sha384-" + base64.b64encode(digest).decode(), name
    licence = (STATIC / "vendor" / "uPlot.LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Leon Sorokin" in licence
    assert "(v1.6.32)" in (STATIC / "vendor" / "uPlot.iife.min.js").read_text(encoding="utf-8")


def test_the_files_carry_the_security_headers_and_not_the_pages_template(
    database_url: str,
) -> None:
    """Served for real: each file with the page's headers (a framed or script-run copy of
    a file is refused); the page's template only at the page paths (with its values)."""
    app = create_app(make_settings(database_url).app_config())
    with serve_in_thread(app) as base, httpx.Client(base_url=base) as client:
        for module in STATIC.glob("*.js"):
            response = client.get(f"{ASSETS_PATH}/{module.name}")
            assert response.status_code == 200
            for name, value in SECURITY_HEADERS.items():
                assert response.headers[name] == value, (module.name, name)
        template = client.get(f"{ASSETS_PATH}/index.html")
        assert template.status_code == 404
        assert template.json()["error"] == "Not Found"
