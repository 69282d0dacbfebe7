"""Stream a CSV file in constant memory, resuming where the last run stopped.

The checkpoint's fingerprint is ``v2:<offset>:<mtime_ns>:<tail>:<sha256 of bytes [0, offset)>``
where ``tail`` hashes the last 4 KiB before ``offset``.

* The file's size is ``offset`` and its mtime and tail are unchanged: the file is unchanged
  and is skipped without reading it (4 KiB aside).
* The first ``offset`` bytes still hash the same (rows were appended, or a previous run
  stopped part-way): only the bytes after ``offset`` are read.
* Otherwise the whole file is read again; idempotent loading makes that safe.

Rows are located by the physical line number they start on (``line N``, the header is line
1). A row that is not valid UTF-8, or that the ``csv`` module cannot read (a field over its
size limit), is rejected like any invalid row; a header that is not UTF-8 fails the source.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kasparro.etl.csv_layouts import Layout, validator_for
from kasparro.etl.errors import InputMissingError, RecordRejected, SchemaDriftError
from kasparro.etl.model import Chunk, Reject
from kasparro.etl.validate import TimestampParser, as_reject

_HASH_BLOCK = 1 << 20
_TAIL = 4096
RAW_LIMIT = 4000


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


class CsvSource:
    """One CSV input for one source name and layout."""

    def __init__(self, source: str, path: Path, layout: Layout, previous: str | None) -> None:
        self.source = source
        self.path = path
        self.layout = layout
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

    def chunks(self, parse_time: TimestampParser, batch_size: int) -> Iterator[Chunk]:
        """Yield chunks of validated rows; each carries the fingerprint at its end.

        The chunk holding the file's last row is the one marked ``last`` (a full batch waits
        for the next row before it is yielded): were the last rows committed apart from the
        final checkpoint, a crash in between would leave the file looking wholly processed
        with a high-water mark that never advances.
        """
        with open(self.path, "rb") as handle:
            header = handle.readline()
            if not header.strip():
                raise SchemaDriftError(
                    self.source,
                    f"{self.path} is empty; expected a header with {self.layout.describe()}",
                )
            header_fields = next(csv.reader([self._header_text(header)]))
            validate = validator_for(self.source, self.layout, header_fields, parse_time)
            hasher, line = self._start(handle, header)
            pending: list[bytes] = []
            undecodable: list[str] = []

            def lines() -> Iterator[str]:
                for raw in handle:
                    hasher.update(raw)
                    pending.append(raw)
                    try:
                        yield raw.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        undecodable.append(f"{exc.reason} at byte {exc.start} of the line")
                        yield raw.decode("utf-8", "replace")

            reader = csv.reader(lines())
            chunk = Chunk()
            rows, rejects = chunk.rows, chunk.rejects
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
                if undecodable:
                    kind = "not valid UTF-8"
                    problem = RecordRejected(f"{kind} ({undecodable[0]})", kind)
                if fields or problem:
                    if full is not None:
                        yield full
                        full = None
                    chunk.read += 1
                    try:
                        if problem is not None:
                            raise problem
                        rows.append(validate(fields))
                    except Exception as exc:  # noqa: BLE001 - the row boundary, see as_reject
                        why = as_reject(exc, self.source)
                        text = b"".join(pending).decode("utf-8", "replace").rstrip("\r\n")
                        where = f"line {line + reader.line_num - len(pending) + 1}"
                        rejects.append(Reject(where, why.reason, text[:RAW_LIMIT], why.kind))
                pending.clear()
                undecodable.clear()
                if len(rows) >= batch_size:
                    chunk.position = self._position(handle, hasher)
                    full, chunk = chunk, Chunk()
                    rows, rejects = chunk.rows, chunk.rejects
            if full is not None:  # the file ends with a full batch: that is the last chunk
                chunk = full
            else:
                chunk.position = self._position(handle, hasher)
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

    def _position(self, handle: BinaryIO, hasher: hashlib._Hash) -> str:
        offset = handle.tell()
        tail = tail_digest(handle.fileno(), offset)
        return Fingerprint(offset, self._mtime_ns, tail, hasher.hexdigest()).text()
