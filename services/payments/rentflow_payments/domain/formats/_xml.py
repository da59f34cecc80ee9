"""Safe, incremental XML for the report and statement parsers.

Two passes over the uploaded file, memory bounded by one item:
1. `check_well_formed`: expat over the raw bytes, 1 MB at a time, with no tree at all. A DOCTYPE,
   an entity declaration or an external entity is refused (no entity expansion, no network), as is
   anything not well-formed: the file is `Unreadable` before any item is yielded, so nothing of a
   truncated or broken file is posted.
2. `iter_items`: defusedxml's iterparse (DTDs forbidden), yielding each wanted element once it is
   complete, then dropping it from the tree.

Tags are matched by local name, so every namespace version of a document (camt.053.001.02, .08, ...)
reads the same.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator
from xml.etree.ElementTree import Element, ParseError
from xml.parsers import expat

from defusedxml.common import DefusedXmlException
from defusedxml.ElementTree import iterparse

from rentflow_payments.domain.formats import Unreadable

CHUNK = 1 << 20


def _refuse(*_: object) -> None:
    raise Unreadable("XML with a DOCTYPE or entity declarations is not accepted")


def check_well_formed(fp: BinaryIO, what: str) -> None:
    fp.seek(0)
    parser = expat.ParserCreate(namespace_separator="}")  # namespaces checked as pass 2 checks them
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    empty = True
    try:
        while chunk := fp.read(CHUNK):
            empty = empty and not chunk.strip()
            parser.Parse(chunk, False)
        if empty:
            raise Unreadable("the file is empty")
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise Unreadable(f"not a well-formed {what} XML document: {expat.errors.messages[exc.code]} "
                         f"(line {exc.lineno}, column {exc.offset + 1})") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise Unreadable(f"not a readable {what} XML document: {exc}") from None


def local(tag: str) -> str:
    return tag[tag.rfind("}") + 1:]


def iter_items(fp: BinaryIO, wanted: frozenset[str]) -> Iterator[tuple[str, Element, str]]:
    """(local name, element, parent's local name) for each complete element named in `wanted`,
    in document order.
    Elements that end outside a wanted one are dropped from the tree once yielded or passed."""
    fp.seek(0)
    stack: list[Element] = []
    inside = 0
    try:
        for event, elem in iterparse(fp, events=("start", "end"), forbid_dtd=True):
            name = local(elem.tag)
            if event == "start":
                stack.append(elem)
                inside += name in wanted
                continue
            stack.pop()
            if name in wanted:
                inside -= 1
                yield name, elem, local(stack[-1].tag) if stack else ""
            if not inside and stack:
                stack[-1].remove(elem)
    except (ParseError, DefusedXmlException, LookupError) as exc:  # checked by pass 1; kept as a clear error anyway
        raise Unreadable(f"XML error: {exc}") from None


def child(elem: Element | None, *path: str) -> Element | None:
    """The first descendant along `path` of local names (direct children at each step)."""
    for name in path:
        if elem is None:
            return None
        elem = next((c for c in elem if local(c.tag) == name), None)
    return elem


def children(elem: Element | None, name: str) -> list[Element]:
    return [] if elem is None else [c for c in elem if local(c.tag) == name]


def text(elem: Element | None, *path: str) -> str | None:
    """Stripped text of the element along `path`; None when absent or blank."""
    found = child(elem, *path) if path else elem
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def attr(elem: Element, name: str) -> str | None:
    value = elem.get(name)
    return value.strip() if value is not None and value.strip() else None
