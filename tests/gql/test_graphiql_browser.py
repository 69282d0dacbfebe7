"""GraphiQL in headless Chromium: the page loads offline, runs a records query, shows rows."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.gql.app import create_app
from kasparro.settings import Settings
from tests.gql.store import load_store
from tests.servers import serve_in_thread
from tests.webdriver import browser_missing, chromium

QUERY = '{ records(first: 1, recordId: ["tether"]) { nodes { recordId symbol value } } }'


@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_graphiql_runs_a_records_query(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    newest = load_store(engine).newest_first(record_id="tether")[0]
    with serve_in_thread(create_app(settings.app_config())) as base, chromium() as browser:
        browser.open(f"{base}/graphql?q={urllib.parse.quote(QUERY)}")
        browser.wait_for("return document.querySelector('.graphiql-execute-button') !== null")
        browser.script("document.querySelector('.graphiql-execute-button').click()")
        shown = browser.wait_for(
            "const r = document.querySelector('.graphiql-response .CodeMirror');"
            "return r && r.innerText.includes('recordId') ? r.innerText : null"
        )
        # GraphiQL's own introspection query passed the depth and token limits: the docs
        # explorer lists the Query fields.
        browser.script(
            "document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()"
        )
        browser.wait_for(
            "const d = document.querySelector('.graphiql-doc-explorer');"
            "return d && d.innerText.includes('Query')"
        )
        browser.script(
            "[...document.querySelectorAll('.graphiql-doc-explorer a')]"
            ".find(a => a.innerText === 'Query').click()"
        )
        docs = browser.wait_for(
            "const d = document.querySelector('.graphiql-doc-explorer');"
            "return d && d.innerText.includes('latestPrices') ? d.innerText : null"
        )
        (tmp_path / "graphiql.png").write_bytes(browser.screenshot_png())
    assert "records" in docs and "etlRuns" in docs
    shown = shown.replace("\xa0", " ")
    assert '"recordId": "tether"' in shown
    assert '"symbol": "USDT"' in shown
    assert f'"value": {newest["value"]}' in shown
