"""Splitting an API page into its items when the page as a whole cannot be parsed."""

from __future__ import annotations

import json

import pytest

from kasparro.etl.errors import RecordRejected
from kasparro.etl.json_pages import Unparsed, page_items, split_array


def test_elements_are_split_at_top_level_commas_only() -> None:
    text = '[1, "a,]\\"[", {"b": [1, {"c": ","}]}, [3, 4], null]'
    assert split_array(text) == ["1", ' "a,]\\"["', ' {"b": [1, {"c": ","}]}', " [3, 4]", " null"]
    assert [json.loads(element) for element in split_array(text) or []] == json.loads(text)
    assert split_array("[]") == split_array("  [ ]  ") == []


@pytest.mark.parametrize("text", ['{"a": 1}', "1", '["never closed", 1', '["x', '["x\\'])
def test_a_page_that_is_not_a_closed_array_is_not_split(text: str) -> None:
    assert split_array(text) is None


def test_one_item_past_the_parsers_depth_costs_only_that_item() -> None:
    deep = "[" * 50_000 + "]" * 50_000
    items = page_items(f'[{{"id": "a"}}, {{"id": "b", "name": {deep}}}, {{"id": "c"}}]'.encode())
    assert items[0] == {"id": "a"} and items[2] == {"id": "c"}
    assert isinstance(items[1], Unparsed)
    assert items[1].reason == "item is nested too deeply to parse"
    assert items[1].text.startswith(' {"id": "b"')


def test_integers_past_pythons_digit_limit_are_read_as_infinite() -> None:
    assert page_items(b"[" + b"9" * 5000 + b", -" + b"9" * 5000 + b", 12]") == [
        float("inf"),
        float("-inf"),
        12,
    ]


def test_a_page_nested_too_deeply_that_is_no_array_is_one_reject() -> None:
    with pytest.raises(RecordRejected, match="nested too deeply to parse"):
        page_items(b'{"a": ' + b"[" * 50_000)
