"""File formats intake understands: a registry of parsers, format name → parser.

A parser takes the uploaded file (a seekable binary file object) and the import's options (query
parameters such as a column mapping; may be empty) and yields one `Parsed` per input item, in file
order: the item as a dict of its `type` (validated afterwards by service_layer: a `payment` exactly
like a push body; a DD `return`, a `mandate` instruction, a `reversal` of an earlier payment, a
GOV.UK Pay `card_event`), an item `skipped` on purpose (with a `note` saying why: a debit entry, a
contra record), a file-level `warning` (e.g. a contra record that does not match its items), or the
reason the item could not be read (`error`). A parser must read incrementally (memory
bounded by one item, not the file) and raises `Unreadable` when the file as a whole cannot be read
(not this format, wrong encoding, broken structure), as early as it can tell: intake stages every
item before posting any, so nothing of such a file is posted even when it is found at the end.

A new format (camt, bacs18, arudd, ...) is a module that calls `register(...)`, imported below.
`sniff` (optional) lets `format=auto` recognise the format from the first bytes of the file.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal, Mapping


class Unreadable(Exception):
    """The file as a whole cannot be read; the message is the one-line reason given to the sender."""


class UnknownFormat(Exception):
    pass


ItemType = Literal["payment", "return", "mandate", "reversal", "card_event", "skipped", "warning"]
Options = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Parsed:
    kind: Literal["line", "item"]  # how the sender finds it: line number or 1-based position in the file
    position: int
    value: dict[str, Any] | None = None
    error: str | None = None
    type: ItemType = "payment"
    note: str | None = None  # why a `skipped` item is skipped, what a `warning` is about


Parser = Callable[..., Iterator[Parsed]]  # parse(fp, options=None)
Sniffer = Callable[[bytes], bool]


@dataclass(frozen=True)
class FileFormat:
    name: str
    parse: Parser
    sniff: Sniffer | None = None
    description: str = ""
    default_provider: str | None = None  # whose items these are when the import names no provider


FORMATS: dict[str, FileFormat] = {}
AUTO = "auto"
GENERIC = ("csv", "json")  # recognised only when no specific layout is
SNIFF_BYTES = 4096


def register(name: str, parse: Parser, *, sniff: Sniffer | None = None, description: str = "",
             default_provider: str | None = None) -> None:
    FORMATS[name] = FileFormat(name, parse, sniff, description, default_provider)


def supported() -> list[str]:
    return [AUTO, *sorted(FORMATS)]


def resolve(name: str, head: bytes) -> FileFormat:
    """The format called `name`, or for "auto" the first whose sniffer recognises `head`."""
    if name == AUTO:
        for fmt in sorted(FORMATS.values(), key=lambda f: f.name in GENERIC):  # specific layouts first
            if fmt.sniff and fmt.sniff(head):
                return fmt
        raise Unreadable(f"could not recognise the file format; say which with format= one of {', '.join(sorted(FORMATS))}")
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown format {name!r}; supported: {', '.join(supported())}") from None


from rentflow_payments.domain.formats import arudd, bacs18, camt, govuk_pay, messaging  # noqa: E402,F401
from rentflow_payments.domain.formats import bank_csv, cash_csv, json_format  # noqa: E402,F401
from rentflow_payments.domain.formats import benefit_schedules, stripe_payouts  # noqa: E402,F401
