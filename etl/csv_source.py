"""Stream a CSV file in constant memory, resuming where the last run stopped.

The checkpoint's fingerprint is ``v2:<offset>:<mtime_ns>:<tail>:<sha256 of bytes [0, offset)>``
where ``tail`` hashes the last 4 KiB before ``offset``.

* The file's size is ``offset`` and its mtime and tail are unchanged: the file is unchanged
  and is skipped without reading it (4 KiB aside).
* The first ``offset`` bytes still hash the same (rows were appended, or a previous run
  stopped part-way): only the bytes after ``offset`` are read.
* Otherwise the whole file is read again; idempotent loading makes that safe.

Rows are located by the physical line number they start on (``line N``, the header is line
1). A row that is not valid UTF-8, that the ``csv`` module cannot read (a field over its
size limit), or that is longer than ``max_row_bytes`` (CSV_MAX_ROW_BYTES: read past, never
held whole, see ``_Rows``) is rejected like any invalid row; a header that is not UTF-8
fails the source. A quote still open after ``max_row_lines`` lines (CSV_MAX_ROW_LINES) or at
the end of the file rejects only the row's first line ("unterminated quote"): the lines
after it are read again as rows, so one stray quote cannot swallow the rows that follow.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kasparro.etl.csv_layouts import Layout, validator_for
from kasparro.etl.errors import InputMissingError, RecordRejected, SchemaDriftError
from kasparro.etl.model import Chunk
from kasparro.etl.reject_log import RAW_LIMIT, RejectLog, excerpt
from kasparro.etl.validate import TimestampParser, as_reject

_HASH_BLOCK = 1 << 20
_TAIL = 4096


@dataclass(frozen=True, slots=True)
class Fingerprint:
    offset: int
    mtime_ns: int
    tail: str
    sha256: str

    def text(self) -> str:
        return f"v2:{self.offset}:{self.mtime_ns}:{self.tail}:{self.sha256}"

    @classmethod
    def parse(cls, text: str | None) -> Fingerprint | None:
        parts = (text or "").split(":")
        if len(parts) != 5 or parts[0] != "v2":
            return None
        try:
            return cls(int(parts[1]), int(parts[2]), parts[3], parts[4])
        except ValueError:
            return None


def tail_digest(fd: int, offset: int) -> str:
    """A short hash of the (up to) 4 KiB before ``offset``, read without moving ``fd``."""
    start = max(0, offset - _TAIL)
    return hashlib.blake2b(os.pread(fd, offset - start, start), digest_size=8).hexdigest()


class _Rows:
    """The file's rows as the ``csv`` reader reads them, each from at most ``max_row`` bytes
    and ``max_lines`` lines.

    The reader is handed a row's first line alone; only when it asks for more (a quoted
    field still open: an ``IndexError`` from its empty queue of lines) does ``_continue``
    read on, a line at a time, and have the reader parse the row's lines again from its
    start. So the bounds cost nothing per line for a row of one line. A row's lines are kept
    (``pending``) until the next row is read. The line that would take the row past
    ``max_row`` bytes is read on in blocks to its end, hashed and counted but not kept
    (``cut`` is the row's whole size): so a 100 MB line costs one block of memory, not
    100 MB. Lines are counted (``first`` is the line number the current row starts on) and
    hashed in file order (the fingerprint): a row's first line when it is read, the others
    once the row is whole. A quoted field still open after ``max_lines`` lines, or at the
    end of the file, shrinks the row to its first line ("unterminated quote"); its other
    lines, not yet hashed, are handed out again (``_replay``) as the start of the next rows.
    """

    def __init__(
        self, handle: BinaryIO, hasher: hashlib._Hash, line: int, max_row: int, max_lines: int
    ) -> None:
        self._handle = handle
        self._hasher = hasher
        self._max_row = max_row
        self._max_lines = max_lines
        self._line = line
        self._replay: deque[bytes] = deque()
        self._texts: deque[str] = deque()
        self._reader = csv.reader(iter(self._texts.popleft, None))
        self.first = line + 1
        self.pending: list[bytes] = []
        self.undecodable: list[str] = []
        self.cut = 0
        """The whole size of the row cut off at the bound (0: none)."""

    def __iter__(self) -> Iterator[list[str] | RecordRejected]:
        """Each row's fields, or why it was rejected; empty lines are skipped. ``first`` and
        ``raw_text`` describe the row last yielded."""
        replay, pending, undecodable = self._replay, self.pending, self.undecodable
        readline, update, push = self._handle.readline, self._hasher.update, self._texts.append
        parse, limit, line = self._reader.__next__, self._max_row + 1, self._line
        while True:
            if pending:
                pending.clear()
                undecodable.clear()
                self.cut = 0
            raw = replay.popleft() if replay else readline(limit)
            if not raw:
                return
            line += 1
            self.first = line
            if len(raw) == limit:
                yield self._too_long(raw, 0)
                continue
            update(raw)
            pending.append(raw)
            try:
                push(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                undecodable.append(f"{exc.reason} at byte {exc.start} of the line")
                push(raw.decode("utf-8", "replace"))
            try:
                fields: list[str] | RecordRejected = parse()
            except IndexError:  # the reader asked for a next line: a quoted field goes on
                self._line = line
                fields = self._continue()
                line = self._line
            except csv.Error as exc:  # e.g. a field over the csv module's size limit
                fields = _unreadable(exc)
            if undecodable and not self.cut:
                kind = "not valid UTF-8"
                yield RecordRejected(f"{kind} ({undecodable[0]})", kind)
            elif fields:
                yield fields

    def _continue(self) -> list[str] | RecordRejected:
        """Read on past the row's first line until the reader has the row, or a bound or the
        end of the file ends it; hash the row's other lines once it is whole."""
        pending, texts = self.pending, self._texts
        decoded = [pending[0].decode("utf-8", "replace")]
        size = len(pending[0])
        try:
            while True:
                if len(pending) >= self._max_lines:
                    return self._unterminated(at_end=False)
                room = self._max_row - size
                raw = self._replay.popleft() if self._replay else self._handle.readline(room + 1)
                if not raw:
                    return self._unterminated(at_end=True)
                self._line += 1
                if len(raw) > room:
                    return self._too_long(raw, size)
                pending.append(raw)
                size += len(raw)
                try:
                    decoded.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    self.undecodable.append(f"{exc.reason} at byte {exc.start} of the line")
                    decoded.append(raw.decode("utf-8", "replace"))
                texts.extend(decoded)
                try:
                    fields: list[str] | RecordRejected = self._reader.__next__()
                except IndexError:
                    continue
                except csv.Error as exc:
                    fields = _unreadable(exc)
                self._hash_rest()
                return fields
        finally:
            texts.clear()

    def _too_long(self, raw: bytes, size: int) -> RecordRejected:
        """Read past the rest of the line ``raw`` starts (the row had ``size`` bytes before
        it), keeping only the row's start."""
        self._hash_rest()
        self._hasher.update(raw)
        self.pending.append(raw[:RAW_LIMIT])
        self.cut = size + len(raw)
        while not raw.endswith(b"\n"):
            raw = self._handle.readline(_HASH_BLOCK)
            if not raw:
                break
            self._hasher.update(raw)
            self.cut += len(raw)
        kind = f"row is longer than {self._max_row:,} bytes"
        return RecordRejected(f"{kind} ({self.cut:,} bytes; CSV_MAX_ROW_BYTES)", kind)

    def _hash_rest(self) -> None:
        """Hash the current row's lines after its first (their bytes come next in the file)."""
        for raw in self.pending[1:]:
            self._hasher.update(raw)

    def _unterminated(self, at_end: bool) -> RecordRejected:
        """Shrink the row to its first line and hand its other lines out again."""
        self._replay.extendleft(reversed(self.pending[1:]))
        del self.pending[1:]
        self.undecodable.clear()
        self._line = self.first
        kind = "unterminated quote"
        where = (
            "at the end of the file"
            if at_end
            else f"after {self._max_lines:,} lines (CSV_MAX_ROW_LINES)"
        )
        return RecordRejected(
            f"{kind}: a quoted field is still open {where}; only this line is rejected", kind
        )

    def offset(self) -> int:
        """The file offset after the last whole row (lines to read again come after it)."""
        return self._handle.tell() - sum(map(len, self._replay))

    def raw_text(self) -> str:
        """The current row's raw text for its reject (an excerpt when it is long or cut)."""
        text = b"".join(self.pending).decode("utf-8", "replace").rstrip("\r\n")
        return excerpt(text, self.cut, "bytes") if self.cut else excerpt(text)


def _unreadable(exc: csv.Error) -> RecordRejected:
    kind = "not a readable CSV row"
    return RecordRejected(f"{kind}: {exc}", kind)


class CsvSource:
    """One CSV input for one source name and layout; no row may be longer than
    ``max_row_bytes`` (CSV_MAX_ROW_BYTES) or span more than ``max_row_lines`` lines
    (CSV_MAX_ROW_LINES)."""

    def __init__(
        self,
        source: str,
        path: Path,
        layout: Layout,
        previous: str | None,
        max_row_bytes: int = 1 << 20,
        max_row_lines: int = 8,
    ) -> None:
        self.source = source
        self.path = path
        self.layout = layout
        self.max_row_bytes = max_row_bytes
        self.max_row_lines = max_row_lines
        self._previous = Fingerprint.parse(previous)
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise InputMissingError(source, f"cannot read {path}: {exc.strerror}") from None
        self._size, self._mtime_ns = stat.st_size, stat.st_mtime_ns

    def unchanged(self) -> bool:
        """True when the whole file was processed before and it has not changed since."""
        last = self._previous
        if last is None or last.offset != self._size or last.mtime_ns != self._mtime_ns:
            return False
        with open(self.path, "rb") as handle:
            return tail_digest(handle.fileno(), last.offset) == last.tail

    def chunks(
        self, parse_time: TimestampParser, batch_size: int, rejects: RejectLog
    ) -> Iterator[Chunk]:
        """Yield chunks of validated rows; each carries the fingerprint at its end. A chunk is
        yielded when ``batch_size`` rows were read into it (valid or not); ``rejects``
        counts every reject and keeps the first few.

        The chunk holding the file's last row is the one marked ``last`` (a full batch waits
        for the next row before it is yielded): were the last rows committed apart from the
        final checkpoint, a crash in between would leave the file looking wholly processed
        with a high-water mark that never advances.
        """
        with open(self.path, "rb") as handle:
            header = handle.readline(self.max_row_bytes + 1)
            if not header.strip():
                raise SchemaDriftError(
                    self.source,
                    f"{self.path} is empty; expected a header with {self.layout.describe()}",
                )
            header_fields = next(csv.reader([self._header_text(header)]))
            validate = validator_for(self.source, self.layout, header_fields, parse_time)
            hasher, line = self._start(handle, header)
            lines = _Rows(handle, hasher, line, self.max_row_bytes, self.max_row_lines)
            chunk = Chunk()
            keep = chunk.rows.append
            full: Chunk | None = None  # a full batch, held until a next row shows more follow
            for fields in lines:
                if full is not None:
                    yield full
                    full = None
                chunk.read += 1
                try:
                    if isinstance(fields, RecordRejected):
                        raise fields
                    keep(validate(fields))
                except Exception as exc:  # noqa: BLE001 - the row boundary, see as_reject
                    why = as_reject(exc, self.source)
                    rejects.add(chunk, f"line {lines.first}", why, lines.raw_text)
                if chunk.read >= batch_size:
                    chunk.position = self._position(handle, hasher, lines.offset())
                    full, chunk = chunk, Chunk()
                    keep = chunk.rows.append
            if full is not None:  # the file ends with a full batch: that is the last chunk
                chunk = full
            else:
                chunk.position = self._position(handle, hasher, lines.offset())
            chunk.last = True
            yield chunk

    def _header_text(self, header: bytes) -> str:
        """The header line as text; raise ``SchemaDriftError`` when it is not UTF-8 text."""
        try:
            text = header.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"{exc.reason} at byte {exc.start}"
        else:
            if "\x00" not in text:
                return text
            problem = "it contains NUL characters"
        raise SchemaDriftError(
            self.source,
            f"{self.path}: the header is not UTF-8 text ({problem}; UTF-16 or another "
            f"encoding?); save the file as UTF-8 with a header of {self.layout.describe()}",
        )

    def _start(self, handle: BinaryIO, header: bytes) -> tuple[hashlib._Hash, int]:
        """Position ``handle`` after the header or at the resume offset; return the hasher
        over the bytes before the position and the line number of the last line before it."""
        last = self._previous
        if last is not None and len(header) < last.offset <= self._size:
            hasher, newlines = hashlib.sha256(header), 1
            remaining = last.offset - len(header)
            while remaining:
                block = handle.read(min(_HASH_BLOCK, remaining))
                if not block:
                    break
                hasher.update(block)
                newlines += block.count(b"\n")
                remaining -= len(block)
            if not remaining and hasher.hexdigest() == last.sha256:
                return hasher, newlines
            handle.seek(len(header))
        return hashlib.sha256(header), 1

    def _position(self, handle: BinaryIO, hasher: hashlib._Hash, offset: int) -> str:
        tail = tail_digest(handle.fileno(), offset)
        return Fingerprint(offset, self._mtime_ns, tail, hasher.hexdigest()).text()
