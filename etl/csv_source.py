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
held whole, see ``_Lines``) is rejected like any invalid row; a header that is not UTF-8
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


class RowTooLong(Exception):
    """A row passed the bound on its bytes; the rest of its line was skipped."""


class UnterminatedQuote(Exception):
    """A quoted field was still open past the bound on a row's lines, or at the end of the
    file; only the row's first line is kept, the others are read again."""

    def __init__(self, at_end: bool) -> None:
        super().__init__()
        self.at_end = at_end


class _Lines:
    """The file's lines, as text for the ``csv`` reader, with every row's bytes bounded.

    A row's lines are kept (``pending``) until the reader has the row: at most ``max_row``
    bytes. The line that would take the row past them is read on in blocks to its end,
    hashed and counted but not kept, and ``RowTooLong`` is raised through the reader (which
    starts afresh on the next line): so a 100 MB line costs one block of memory, not 100 MB.
    Lines are counted (``first`` is the line number the current row starts on) and hashed
    in file order (the fingerprint): a row's first line when it is read, the others (which
    the reader asks for only inside a quoted field) once the row is whole. The reader asking
    for more than ``max_lines`` lines, or meeting the end of the file, inside one row raises
    ``UnterminatedQuote``: the row shrinks to its first line and its other lines, not yet
    hashed, are handed out again (``_replay``) as the start of the next rows.
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
        self._size = 0
        self.first = line + 1
        self.pending: list[bytes] = []
        self.undecodable: list[str] = []
        self.cut = 0
        """The whole size of the row cut off at the bound (0: none)."""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.pending) >= self._max_lines:
            self._unterminated(at_end=False)
        room = self._max_row - self._size
        raw = self._replay.popleft() if self._replay else self._handle.readline(room + 1)
        if not raw:
            if self.pending:
                self._unterminated(at_end=True)
            raise StopIteration
        self._line += 1
        if len(raw) > room:
            self._skip_rest(raw)
            raise RowTooLong
        if not self.pending:
            self._hasher.update(raw)
        self.pending.append(raw)
        self._size += len(raw)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.undecodable.append(f"{exc.reason} at byte {exc.start} of the line")
            return raw.decode("utf-8", "replace")

    def _skip_rest(self, raw: bytes) -> None:
        """Read past the rest of the line ``raw`` starts, keeping only the row's start."""
        self._hash_rest()
        self._hasher.update(raw)
        self.pending.append(raw[:RAW_LIMIT])
        self.cut = self._size + len(raw)
        while not raw.endswith(b"\n"):
            raw = self._handle.readline(_HASH_BLOCK)
            if not raw:
                break
            self._hasher.update(raw)
            self.cut += len(raw)

    def _hash_rest(self) -> None:
        """Hash the current row's lines after its first (their bytes come next in the file)."""
        for raw in self.pending[1:]:
            self._hasher.update(raw)

    def _unterminated(self, at_end: bool) -> None:
        """Shrink the row to its first line and hand its other lines out again."""
        self._replay.extendleft(reversed(self.pending[1:]))
        del self.pending[1:]
        self.undecodable.clear()
        self._line = self.first
        raise UnterminatedQuote(at_end)

    def offset(self) -> int:
        """The file offset after the last whole row (lines to read again come after it)."""
        return self._handle.tell() - sum(map(len, self._replay))

    def raw_text(self) -> str:
        """The current row's raw text for its reject (an excerpt when it is long or cut)."""
        text = b"".join(self.pending).decode("utf-8", "replace").rstrip("\r\n")
        return excerpt(text, self.cut, "bytes") if self.cut else excerpt(text)

    def next_row(self) -> None:
        """The reader has the current row: the next one starts on the next line."""
        if not self.cut:
            self._hash_rest()
        self.pending.clear()
        self.undecodable.clear()
        self._size = self.cut = 0
        self.first = self._line + 1


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
            lines = _Lines(handle, hasher, line, self.max_row_bytes, self.max_row_lines)
            reader = csv.reader(lines)
            chunk = Chunk()
            full: Chunk | None = None  # a full batch, held until a next row shows more follow
            while True:
                problem: RecordRejected | None = None
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:  # e.g. a field over the csv module's size limit
                    kind = "not a readable CSV row"
                    fields, problem = [], RecordRejected(f"{kind}: {exc}", kind)
                except RowTooLong:
                    kind = f"row is longer than {self.max_row_bytes:,} bytes"
                    problem = RecordRejected(
                        f"{kind} ({lines.cut:,} bytes; CSV_MAX_ROW_BYTES)", kind
                    )
                    fields = []
                except UnterminatedQuote as exc:
                    problem, fields = self._unterminated(exc), []
                if lines.undecodable and not lines.cut:
                    kind = "not valid UTF-8"
                    problem = RecordRejected(f"{kind} ({lines.undecodable[0]})", kind)
                if fields or problem:
                    if full is not None:
                        yield full
                        full = None
                    chunk.read += 1
                    try:
                        if problem is not None:
                            raise problem
                        chunk.rows.append(validate(fields))
                    except Exception as exc:  # noqa: BLE001 - the row boundary, see as_reject
                        why = as_reject(exc, self.source)
                        rejects.add(chunk, f"line {lines.first}", why, lines.raw_text)
                lines.next_row()
                if chunk.read >= batch_size:
                    chunk.position = self._position(handle, hasher, lines.offset())
                    full, chunk = chunk, Chunk()
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

    def _unterminated(self, exc: UnterminatedQuote) -> RecordRejected:
        kind = "unterminated quote"
        where = (
            "at the end of the file"
            if exc.at_end
            else f"after {self.max_row_lines:,} lines (CSV_MAX_ROW_LINES)"
        )
        return RecordRejected(
            f"{kind}: a quoted field is still open {where}; only this line is rejected", kind
        )

    def _position(self, handle: BinaryIO, hasher: hashlib._Hash, offset: int) -> str:
        tail = tail_digest(handle.fileno(), offset)
        return Fingerprint(offset, self._mtime_ns, tail, hasher.hexdigest()).text()
