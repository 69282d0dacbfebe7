"""GraphiQL in headless Chromium: the page loads offline, runs a records query, shows rows."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import Engine

from kasparro.gql.app import create_app
from kasparro.settings import Settings
from tests.gql.store import load_store
from tests.support.servers import serve_in_thread
from tests.support.webdriver import browser_missing, chromium

QUERY = '{ records(first: 1, recordId: ["tether"]) { nodes { recordId symbol value } } }'


@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
@pytest.mark.slow
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


HEADER_EDITOR = "document.querySelectorAll('.graphiql-editor-tool .CodeMirror')[1]"
STORED = json.dumps({"Authorization": "Bearer stored-secret"})
TAB_STATE = json.dumps(
    {
        "activeTabIndex": 0,
        "tabs": [
            {
                "id": "t",
                "title": "x",
                "query": "{ stats { runsTotal } }",
                "variables": None,
                "headers": STORED,
                "operationName": None,
                "response": None,
            }
        ],
    }
)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_graphiql_keeps_no_headers(settings: Settings, engine: Engine) -> None:
    """Headers (a Bearer token) are not read from ``?headers=``, not stored in the browser,
    and what an older page stored is removed; the headers editor still works."""
    load_store(engine)
    with serve_in_thread(create_app(settings.app_config())) as base, chromium() as browser:
        browser.open(f"{base}/graphiql-assets/LICENSES.txt")  # same origin, no GraphiQL
        browser.script(
            "localStorage.setItem('graphiql:headers', arguments[0]);"
            "localStorage.setItem('graphiql:shouldPersistHeaders', 'true');"
            "localStorage.setItem('graphiql:tabState', arguments[1]);"
            "localStorage.setItem('graphiql:queries', arguments[2]);",
            STORED,
            TAB_STATE,
            json.dumps({"queries": [{"query": "{ stats { runsTotal } }", "headers": STORED}]}),
        )
        url_headers = urllib.parse.quote(json.dumps({"Authorization": "Bearer url-secret"}))
        browser.open(f"{base}/graphql?headers={url_headers}&q={urllib.parse.quote(QUERY)}")
        browser.wait_for(f"return {HEADER_EDITOR} !== undefined")
        shown = browser.script(f"return {HEADER_EDITOR}.CodeMirror.getValue()")
        search = browser.script("return window.location.search")
        browser.script(
            f"{HEADER_EDITOR}.CodeMirror.setValue(arguments[0])",
            json.dumps({"Authorization": "Bearer typed-secret"}),
        )
        browser.script("document.querySelector('.graphiql-execute-button').click()")
        browser.wait_for(
            "const r = document.querySelector('.graphiql-response .CodeMirror');"
            "return r && r.innerText.includes('tether')"
        )
        typed = browser.script(f"return {HEADER_EDITOR}.CodeMirror.getValue()")
        stored = browser.script("return JSON.stringify({...localStorage})")
        browser.open(f"{base}/graphql")
        browser.wait_for(f"return {HEADER_EDITOR} !== undefined")
        after_reload = browser.script(f"return {HEADER_EDITOR}.CodeMirror.getValue()")
    assert "secret" not in shown
    assert "headers" not in search and "q=" in search
    assert "typed-secret" in typed
    assert "graphiql:query" in stored  # GraphiQL does keep the query
    assert "secret" not in stored, stored
    assert "secret" not in after_reload
