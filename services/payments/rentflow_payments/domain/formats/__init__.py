"""File formats intake understands: a registry of parsers, format name → parser.

A parser takes the uploaded file (a seekable binary file object) and yields one `Parsed` per
input item, in file order: either the item as a push-API body (a dict, validated afterwards
exactly like a push) or the reason it could not be read. A parser must read incrementally (memory
bounded by one item, not the file) and must raise `Unreadable` BEFORE yielding anything when the
file as a whole cannot be read (not this format, wrong encoding, broken structure): nothing of
such a file is posted.

A new format (camt053, bacs18, arudd, ...) is a module that calls `register(...)`, imported below.
`sniff` (optional) lets `format=auto` recognise the format from the first bytes of the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator, Literal


class Unreadable(Exception):
    """The file as a whole cannot be read; the message is the one-line reason given to the sender."""


class UnknownFormat(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Literal["line", "item"]  # how the sender finds it: line number or 1-based position in an array
    position: int
    value: dict[str, Any] | None = None
    error: str | None = None


Parser = Callable[[BinaryIO], Iterator[Parsed]]
Sniffer = Callable[[bytes], bool]


@dataclass(frozen=True)
class FileFormat:
    name: str
    parse: Parser
    sniff: Sniffer | None = None
    description: str = ""


FORMATS: dict[str, FileFormat] = {}
AUTO = "auto"
SNIFF_BYTES = 4096


def register(name: str, parse: Parser, *, sniff: Sniffer | None = None, description: str = "") -> None:
    FORMATS[name] = FileFormat(name, parse, sniff, description)


def supported() -> list[str]:
    return [AUTO, *sorted(FORMATS)]


def resolve(name: str, head: bytes) -> FileFormat:
    """The format called `name`, or for "auto" the first whose sniffer recognises `head`."""
    if name == AUTO:
        for fmt in FORMATS.values():
            if fmt.sniff and fmt.sniff(head):
                return fmt
        raise Unreadable(f"could not recognise the file format; say which with format= one of {', '.join(sorted(FORMATS))}")
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown format {name!r}; supported: {', '.join(supported())}") from None


from rentflow_payments.domain.formats import json_format  # noqa: E402,F401  (registers "json")
