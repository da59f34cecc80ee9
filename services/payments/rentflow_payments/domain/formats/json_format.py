"""format=json: a JSON array of push-API bodies, or JSON Lines (one body per line).

Told apart by the first non-blank character: `[` is an array, `{` is JSON Lines (a single
pretty-printed object is also accepted, as one item). Array items are numbered from 1 (`item`),
JSON Lines by line number (`line`).

Both are read incrementally. An array is checked for well-formedness in a first pass (a
truncated or broken array is unreadable as a whole, so nothing of it is posted), then read again
item by item; small files are kept from the first pass instead. A bad JSON Lines line is just a
rejected line: the other lines do not depend on it.
"""
from __future__ import annotations

import codecs
import json
import re
from typing import Any, BinaryIO, Iterator

import orjson

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register

CHUNK = 1 << 20
MAX_ITEM_CHARS = 1 << 20  # one payment body is a few hundred bytes; 1 MB is plainly not one
SINGLE_PASS_BYTES = 2 << 20  # arrays up to this size (~10,000 payments) are parsed once and kept in memory
_BOM = codecs.BOM_UTF8
_WS = re.compile(r"[ \t\r\n]*")


def sniff(head: bytes) -> bool:
    return head.removeprefix(_BOM).lstrip()[:1] in (b"[", b"{")


def _start(fp: BinaryIO) -> tuple[bytes, int]:
    """(first non-blank byte, offset after a UTF-8 BOM); Unreadable for empty or non-UTF-8 files."""
    fp.seek(0)
    head = fp.read(4096)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise Unreadable("the file is UTF-16 text; send it as UTF-8")
    if b"\x00" in head:
        raise Unreadable("the file is not UTF-8 text (it contains NUL bytes)")
    offset = len(_BOM) if head.startswith(_BOM) else 0
    chunk = head[offset:]
    while True:
        stripped = chunk.lstrip()
        if stripped:
            return stripped[:1], offset
        chunk = fp.read(CHUNK)
        if not chunk:
            raise Unreadable("the file is empty")


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    first, offset = _start(fp)
    if first == b"[":
        yield from _array(fp, offset)
    elif first == b"{":
        yield from _lines(fp, offset)
    else:
        raise Unreadable("not JSON: expected a JSON array of payments or JSON Lines (one payment object per line)")


def _as_parsed(kind: str, n: int, obj: Any) -> Parsed:
    if isinstance(obj, dict):
        return Parsed(kind, n, value=obj)  # type: ignore[arg-type]
    return Parsed(kind, n, error=f"expected a JSON object, got {type(obj).__name__}")  # type: ignore[arg-type]


def _array(fp: BinaryIO, offset: int) -> Iterator[Parsed]:
    size = fp.seek(0, 2)
    if size <= SINGLE_PASS_BYTES:
        items = list(_iter_array(fp, offset))  # raises Unreadable before anything is yielded
    else:
        for _ in _iter_array(fp, offset):  # well-formedness first: nothing of a broken file is posted
            pass
        items = _iter_array(fp, offset)  # type: ignore[assignment]
    for n, obj in items:
        yield _as_parsed("item", n, obj)


def _iter_array(fp: BinaryIO, offset: int) -> Iterator[tuple[int, Any]]:
    """(1-based index, decoded value) for each element of the top-level array, reading CHUNK at a time."""
    fp.seek(offset)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    decoder = json.JSONDecoder()
    buf, pos, eof = "", 0, False

    def more() -> bool:
        nonlocal buf, pos, eof
        if eof:
            return False
        chunk = fp.read(CHUNK)
        try:
            text = utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise Unreadable("the file is not valid UTF-8 text") from None
        eof = not chunk
        buf, pos = buf[pos:] + text, 0
        return True

    def skip_ws() -> None:
        nonlocal pos
        while True:
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if pos < len(buf) or not more():
                return

    skip_ws()
    pos += 1  # the "[" seen by _start
    skip_ws()
    n = 0
    if buf[pos:pos + 1] == "]":
        pos += 1
    else:
        while True:
            n += 1
            while True:
                try:
                    obj, end = decoder.raw_decode(buf, pos)
                    if end < len(buf) or eof:  # a number at the end of the buffer may go on
                        break
                except json.JSONDecodeError as exc:
                    if eof:
                        raise Unreadable(f"invalid JSON in item {n}: {exc.msg}") from None
                    if len(buf) - pos > MAX_ITEM_CHARS:
                        raise Unreadable(f"item {n} is larger than {MAX_ITEM_CHARS} characters") from None
                more()
            pos = end
            yield n, obj
            skip_ws()
            sep = buf[pos:pos + 1]
            if sep == ",":
                pos += 1
                skip_ws()
            elif sep == "]":
                pos += 1
                break
            elif not sep:
                raise Unreadable(f"the JSON array ends after item {n} without a closing ]")
            else:
                raise Unreadable(f"invalid JSON after item {n}: expected , or ]")
    skip_ws()
    if pos < len(buf):
        raise Unreadable("unexpected data after the end of the JSON array")


def _check_utf8(fp: BinaryIO, offset: int) -> None:
    """A file in another encoding is unreadable as a whole, not line by line."""
    fp.seek(offset)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    lineno = 1
    while True:
        chunk = fp.read(CHUNK)
        try:
            utf8.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = lineno + chunk[:exc.start].count(b"\n")
            raise Unreadable(f"the file is not valid UTF-8 text (line {line})") from None
        if not chunk:
            return
        lineno += chunk.count(b"\n")


def _lines(fp: BinaryIO, offset: int) -> Iterator[Parsed]:
    _check_utf8(fp, offset)
    fp.seek(offset)
    lineno = 0
    first = True
    while True:
        line = fp.readline(MAX_ITEM_CHARS + 1)
        if not line:
            return
        lineno += 1
        if len(line) > MAX_ITEM_CHARS and not line.endswith(b"\n"):
            while (rest := fp.readline(CHUNK)) and not rest.endswith(b"\n"):
                pass
            yield Parsed("line", lineno, error=f"line longer than {MAX_ITEM_CHARS} bytes")
            first = False
            continue
        line = line.strip()
        if not line:
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if first and (single := _single_object(fp, offset)) is not None:
                yield Parsed("item", 1, value=single)
                return
            yield Parsed("line", lineno, error=f"invalid JSON: {exc}")
            first = False
            continue
        first = False
        yield _as_parsed("line", lineno, obj)


def _single_object(fp: BinaryIO, offset: int) -> dict[str, Any] | None:
    """A file that is one pretty-printed JSON object (first line alone is not JSON)."""
    here = fp.tell()
    if fp.seek(0, 2) <= SINGLE_PASS_BYTES:
        fp.seek(offset)
        try:
            obj = orjson.loads(fp.read())
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            return obj
    fp.seek(here)
    return None


register("json", parse, sniff=sniff,
         description="a JSON array of push-API payment bodies, or JSON Lines (one body per line)")
