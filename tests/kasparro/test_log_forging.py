"""Log forging: text from clients cannot start a log line of its own, in either format.

A request path with ``%0a``, a GraphQL variable with a newline, an exception message with
one: in the console format each record stays one line (a traceback's lines are indented)
with the characters escaped; in the JSON format each line stays one JSON object.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kasparro.logs import printable
from tests.ops.serving import kasparro_serve
from tests.support.logcapture import captured_logging

FORGED = "12:00:00 INFO    kasparro.access: GET /admin 200 1.0ms"
HEAD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    with captured_logging("console") as buffer:
        yield buffer


def test_printable_escapes_what_could_break_or_disguise_a_line() -> None:
    assert printable("plain text: é, 日本, ∑") == "plain text: é, 日本, ∑"
    assert printable("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert printable("\x1b[31mred\x00") == "\\x1b[31mred\\x00"
    assert printable("\u2028\u2029\u202e\u00ad\ud800") == "\\u2028\\u2029\\u202e\\xad\\ud800"
    assert printable("\U000e0041") == "\\U000e0041"
    assert printable("a\\nb") == "a\\\\nb"  # a literal backslash-n cannot pass for an escape


def test_a_console_record_is_one_line_whatever_its_text(console: io.StringIO) -> None:
    log = logging.getLogger("kasparro.test")
    log.warning("path %s", f"/x\n{FORGED}", extra={"path": f"/x\r\n{FORGED}"})
    try:
        raise ValueError(f"bad value\n{FORGED}\x1b[2J")
    except ValueError:
        log.exception("failed at \u202egnp.exe")
    lines = console.getvalue().splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    assert len(heads) == 2 and all(HEAD.match(line) for line in heads), lines
    assert heads[0].endswith(f"path /x\\n{FORGED}  path=/x\\r\\n{FORGED}")
    assert heads[1].endswith("failed at \\u202egnp.exe")
    # A traceback keeps its lines, each indented: the forged one is no record's start.
    assert lines[2] == "    Traceback (most recent call last):"
    assert lines[-2:] == ["    ValueError: bad value", f"    {FORGED}\\x1b[2J"]


def forged_log(database_url: str, workdir: Path, log_format: str) -> str:
    """The log of a real server after requests that try to forge lines."""
    with kasparro_serve(database_url, workdir, log_format, LOG_FORMAT=log_format) as served:
        with httpx.Client(base_url=served.base_url, timeout=10) as client:
            assert client.get("/%0a" + FORGED.replace(" ", "%20")).status_code == 404
            query = "query Q($since: DateTime) { records(since: $since) { totalCount } }"
            variables = {"since": f"x\n{FORGED}"}
            answer = client.post("/graphql", json={"query": query, "variables": variables})
            assert answer.json()["errors"]
        return served.log()


@pytest.mark.slow
def test_client_text_cannot_forge_console_lines_of_a_real_server(
    database_url: str, tmp_path: Path
) -> None:
    text = forged_log(database_url, tmp_path, "console")
    lines = text.splitlines()
    for line in lines:
        assert HEAD.match(line) or line.startswith(" "), line
    assert not [line for line in lines if line.startswith(FORGED)]
    assert f"GET /\\n{FORGED} 404" in text  # the access line, escaped
    [refusal] = [line for line in lines if "graphql request refused: Variable '$since'" in line]
    assert HEAD.match(refusal) and FORGED in refusal  # the variable's value stays inside


@pytest.mark.slow
def test_client_text_cannot_forge_json_lines_of_a_real_server(
    database_url: str, tmp_path: Path
) -> None:
    text = forged_log(database_url, tmp_path, "json")
    entries = [json.loads(line) for line in text.splitlines()]  # each line is one object
    [access] = [e for e in entries if e["logger"] == "kasparro.access" and e["status"] == 404]
    assert access["path"] == f"/\n{FORGED}"
