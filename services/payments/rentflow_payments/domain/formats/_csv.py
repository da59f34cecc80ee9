"""Reading the CSV layouts: UTF-8 (a BOM is fine) or, when the file is not valid UTF-8, Windows-1252
(what spreadsheet and bank exports often are), decided over the whole file before any row is read;
rows with the header's column names; dates in the forms UK exports use."""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Unreadable
from rentflow_common.parsing import uk_date
from rentflow_payments.domain.formats._common import LONDON

CHUNK = 1 << 20
MAX_FIELD = 4096


def encoding_of(fp: BinaryIO) -> str:
    fp.seek(0)
    head = fp.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise Unreadable("the file is UTF-16 text; send it as UTF-8")
    fp.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := fp.read(CHUNK):
            if b"\x00" in chunk:
                raise Unreadable("not a CSV text file (it contains NUL bytes)")
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "cp1252"


def rows(fp: BinaryIO) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line number, cells, None) per row, or (line, None, reason) for a row csv cannot read."""
    encoding = encoding_of(fp)
    fp.seek(0)
    text = io.TextIOWrapper(fp, encoding=encoding, errors="replace", newline="")
    old = csv.field_size_limit(MAX_FIELD)
    try:
        reader = csv.reader(text)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, None, f"not readable as CSV: {exc}"
                continue
            if any(c.strip() for c in cells):
                yield reader.line_num, cells, None
    finally:
        csv.field_size_limit(old)
        text.detach()


def header_index(cells: list[str]) -> dict[str, int]:
    return {c.strip().lower(): i for i, c in enumerate(cells) if c.strip()}


def headed_rows(fp: BinaryIO) -> tuple[list[str], Iterator[tuple[int, list[str] | None, str | None]]]:
    """The header row's cells and the rows after it; Unreadable when the file is empty or its
    header row is not CSV."""
    it = rows(fp)
    first = next(it, None)
    if first is None:
        raise Unreadable("the file is empty")
    line, cells, error = first
    if cells is None:
        raise Unreadable(f"line {line}: {error}")
    return cells, it


def instant(value: str, field: str) -> str:
    """A date or date-time as an ISO instant; without an offset it is Europe/London time."""
    d, t = uk_date(value, field)
    t = t or dt.time(0)
    at = dt.datetime.combine(d, t.replace(tzinfo=None), t.tzinfo or LONDON)
    return at.isoformat()
