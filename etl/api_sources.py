"""The two API sources, CoinPaprika ``/tickers`` and CoinGecko ``/coins/markets``.

Each source fetches its pages lazily through a ``Fetcher``, hands every successful response
to ``keep`` (the raw-payload store) before parsing it, and yields ``Chunk``s of validated
rows. A page that is not a JSON array (garbage, truncated JSON, HTML, an error object) is
one reject located ``page N``; an item that fails validation is a reject located
``page N item I`` (I counts from 0). The source fails when no page was usable, when the
usable pages held no items at all (an upstream answering ``[]`` is down, not empty; a
CoinGecko page after the first that is empty only ends the paging), and when a
page cannot be fetched (after its retries): the items of the pages before it are then
loaded all the same, and with more than one page asked the error names the page (``page 3:
GET … after 4 attempts: …; pages 1-2 were read and loaded``).

Within one run each id is read once: a response is a snapshot, and the same coin twice in
it (or again on a later page) is an upstream fault, not a correction. The first occurrence
is kept; every later one is a reject naming where the kept one was. An item whose
validation raises something other than ``RecordRejected`` is a reject too ("internal
error …", logged with its traceback: ``etl.validate.as_reject``), so no item can fail its
source.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

from kasparro.etl.errors import (
    FetchError,
    NoItemsError,
    NoUsablePageError,
    RecordRejected,
    SourceError,
)
from kasparro.etl.http import Fetcher, Response
from kasparro.etl.json_pages import Unparsed, page_items
from kasparro.etl.model import Chunk, Row
from kasparro.etl.reject_log import RAW_LIMIT, RejectLog, excerpt
from kasparro.etl.validate import (
    TimestampParser,
    as_reject,
    json_number,
    name_text,
    record_id_text,
    symbol_text,
)

KeepPayload = Callable[[Response], None]
ItemValidator = Callable[[dict[str, Any], TimestampParser], Row]


def _market_row(
    item: dict[str, Any],
    quote: dict[str, Any],
    keys: tuple[str, str, str],
    prefix: str,
    parse_time: TimestampParser,
) -> Row:
    """A row from an item's id, symbol, name and last_updated and ``quote``'s price, market
    cap and volume under ``keys`` (named ``prefix + key`` in reject reasons)."""
    stamp = item.get("last_updated")
    if not isinstance(stamp, str):
        raise RecordRejected("last_updated is missing")
    price, cap, volume = keys
    value = json_number(quote.get(price), prefix + price, required=True)
    assert value is not None
    return Row(
        record_id_text(item.get("id")),
        parse_time(stamp),
        symbol_text(item.get("symbol")),
        name_text(item.get("name")),
        value,
        json_number(quote.get(cap), prefix + cap, required=False),
        json_number(quote.get(volume), prefix + volume, required=False),
    )


def coinpaprika_item(item: dict[str, Any], parse_time: TimestampParser) -> Row:
    """Normalize one CoinPaprika ticker; raise ``RecordRejected``."""
    quotes = item.get("quotes")
    usd = quotes.get("USD") if isinstance(quotes, dict) else None
    if not isinstance(usd, dict):
        raise RecordRejected("quotes.USD is missing")
    keys = ("price", "market_cap", "volume_24h")
    return _market_row(item, usd, keys, "quotes.USD.", parse_time)


def coingecko_item(item: dict[str, Any], parse_time: TimestampParser) -> Row:
    """Normalize one CoinGecko market entry; raise ``RecordRejected``."""
    keys = ("current_price", "market_cap", "total_volume")
    return _market_row(item, item, keys, "", parse_time)


def _raw(value: Any) -> str:
    """An item's JSON text for its reject: non-ASCII kept unless it cannot be stored (a lone
    surrogate), then escaped; the element's own text when it could not be parsed."""
    if isinstance(value, Unparsed):
        return excerpt(value.text)
    try:
        text = excerpt(json.dumps(value, ensure_ascii=False))
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = excerpt(json.dumps(value))
    except (RecursionError, ValueError):
        text = f"<not shown: a {type(value).__name__} nested too deeply to write back as JSON>"
    return text


def _page_text(content: bytes) -> str:
    """A page's raw text for its reject: its start, and its size when it was cut."""
    if len(content) <= RAW_LIMIT:
        return content.decode("utf-8", "replace")
    return excerpt(content[:RAW_LIMIT].decode("utf-8", "replace"), len(content), "bytes")


def _object(item: Any) -> dict[str, Any]:
    """The item as a JSON object; raise ``RecordRejected`` when it is not one."""
    if isinstance(item, Unparsed):
        raise RecordRejected(item.reason, item.kind)
    if not isinstance(item, dict):
        kind = "item is not an object"
        raise RecordRejected(f"item is {type(item).__name__}, not an object", kind)
    return item


def validated_chunks(
    source: str,
    pages: Iterator[tuple[str, Response]],
    validate: ItemValidator,
    parse_time: TimestampParser,
    batch_size: int,
    keep: KeepPayload,
    *,
    rejects: RejectLog,
) -> Iterator[Chunk]:
    """Turn fetched pages into chunks of rows and rejects (see the module docstring);
    ``rejects`` counts every reject and keeps the first few."""
    usable = items_read = 0
    chunk = Chunk()
    first_seen: dict[str, str] = {}
    while True:
        try:
            label, response = next(pages)
        except StopIteration:
            break
        except SourceError:
            # A page failed after its retries, or the run stopped while fetching it: what
            # the earlier pages gave is loaded all the same, then the source fails.
            if chunk.read:
                yield chunk
            raise
        keep(response)
        try:
            items = page_items(response.content)
        except RecordRejected as exc:
            rejects.add(chunk, label, exc, functools.partial(_page_text, response.content))
            chunk.read += 1
            continue
        usable += 1
        items_read += len(items)
        for index, item in enumerate(items):
            chunk.read += 1
            where = f"{label} item {index}"
            try:
                row = validate(_object(item), parse_time)
                seen = first_seen.setdefault(row.record_id, where)
                if seen != where:
                    raise RecordRejected(
                        f"duplicate id {row.record_id!r}: the first one read (at {seen}) is kept",
                        "duplicate id in the response",
                    )
                chunk.rows.append(row)
            except Exception as exc:  # noqa: BLE001 - the item boundary, see as_reject
                rejects.add(chunk, where, as_reject(exc, source), functools.partial(_raw, item))
            if chunk.read >= batch_size:  # rejects take time and (kept ones) memory too
                yield chunk
                chunk = Chunk()
    if usable == 0:
        yield chunk
        raise NoUsablePageError(source)
    if items_read == 0:
        yield chunk
        raise NoItemsError(source, usable)
    chunk.last = True
    yield chunk


def coinpaprika_pages(fetcher: Fetcher, base_url: str) -> Iterator[tuple[str, Response]]:
    yield "page 1", fetcher.get(f"{base_url}/tickers")


def coingecko_pages(fetcher: Fetcher, base_url: str, pages: int) -> Iterator[tuple[str, Response]]:
    """Fetch up to ``pages`` pages of 250; stop early after a short page."""
    for page in range(1, pages + 1):
        params: dict[str, str | int] = {
            "vs_currency": "usd",
            "order": "market_cap_desc",
            "per_page": 250,
            "page": page,
        }
        try:
            response = fetcher.get(f"{base_url}/coins/markets", params)
        except FetchError as exc:
            if pages == 1:
                raise
            loaded = f"; pages 1-{page - 1} were read and loaded" if page > 1 else ""
            raise FetchError(
                exc.source, f"page {page}: {exc}{loaded}", status_code=exc.status_code
            ) from None
        yield f"page {page}", response
        if _short_page(response):
            return


def _short_page(response: Response) -> bool:
    try:
        return len(page_items(response.content)) < 250
    except RecordRejected:
        return False
