"""Safe, incremental XML for the report and statement parsers.

Two passes over the uploaded file, memory bounded by one item:
1. `check_well_formed`: expat over the raw bytes, 1 MB at a time, with no tree at all and
   namespaces processed. A DOCTYPE, an entity declaration or an external entity is refused (no
   entity expansion, no network), as is anything not well-formed: the file is `Unreadable` before
   any item is yielded, so nothing of a truncated or broken file is posted. Expat does not check
   that a namespace name is a URI, and libxml2 refuses one that is not (RFC 3986): each namespace
   declaration is put to libxml2 too (`_namespace_refused`), so pass 2 finds nothing pass 1 let by.
2. `iter_items`: lxml's iterparse (entities not resolved, no network, no DTD loaded, libxml2's
   size limits kept: huge_tree off), filtering the wanted elements in C and yielding each once it
   is complete, then dropping it from the tree. About 10x faster than ElementTree's iterparse,
   which runs Python for every element.

Tags are matched by local name, so every namespace version of a document (camt.053.001.02, .08, ...)
reads the same.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, BinaryIO, Iterator, Mapping
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from lxml import etree

from rentflow_payments.domain.formats import Unreadable

CHUNK = 1 << 20
MAX_TEXT = 1 << 20  # no text or attribute value we read is near this; libxml2 itself stops at 10 MB
Element = Any  # an lxml element: the ElementTree API (tag, text, get, iteration)


def _refuse(*_: object) -> None:
    raise Unreadable("XML with a DOCTYPE or entity declarations is not accepted")


CACHED_NAMESPACE = 1000  # namespace names up to this long have libxml2's answer kept (a file declares a few)


def _namespace_refused(prefix: str, uri: str) -> str | None:
    """Why libxml2 refuses this namespace declaration (a name that is not a URI), or None: the declaration
    alone, read as pass 2 reads documents (a parser per call: the imports parse in threads)."""
    if len(uri) <= CACHED_NAMESPACE:
        return _short_namespace_refused(prefix, uri)
    return _libxml2_refuses(prefix, uri)


def _libxml2_refuses(prefix: str, uri: str) -> str | None:
    attribute = f"xmlns:{prefix}" if prefix else "xmlns"
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        etree.fromstring(f"<r {attribute}={quoteattr(uri)}/>".encode(), parser)
    except etree.XMLSyntaxError as exc:
        return exc.error_log.last_error.message if exc.error_log.last_error else str(exc)
    return None


_short_namespace_refused = lru_cache(maxsize=256)(_libxml2_refuses)


def check_well_formed(fp: BinaryIO, what: str) -> None:
    fp.seek(0)
    parser = expat.ParserCreate(namespace_separator="}")  # namespaces checked as pass 2 checks them

    def namespace(prefix: str | None, uri: str | None) -> None:
        refused = _namespace_refused(prefix or "", uri) if uri else None
        if refused is not None:
            raise Unreadable(f"not a well-formed {what} XML document: {refused} "
                             f"(line {parser.CurrentLineNumber}, column {parser.CurrentColumnNumber + 1})")

    parser.StartNamespaceDeclHandler = namespace
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    empty = True
    run = 0  # bytes since the last "<": bounds every text and attribute value (neither may hold a "<")
    try:
        while chunk := fp.read(CHUNK):
            empty = empty and not chunk.strip()
            parser.Parse(chunk, False)
            first, last = chunk.find(b"<"), chunk.rfind(b"<")
            longest = max(map(len, chunk.split(b"<"))) if first >= 0 else 0
            if max(run + (first if first >= 0 else len(chunk)), longest) > MAX_TEXT:
                raise Unreadable(f"the {what} document has a text or attribute longer than {MAX_TEXT} bytes")
            run = len(chunk) - last - 1 if last >= 0 else run + len(chunk)
        if empty:
            raise Unreadable("the file is empty")
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise Unreadable(f"not a well-formed {what} XML document: {expat.errors.messages[exc.code]} "
                         f"(line {exc.lineno}, column {exc.offset + 1})") from None
    except LookupError as exc:  # the XML declaration names an encoding Python does not know
        raise Unreadable(f"not a readable {what} XML document: {exc}") from None


def local(tag: Any) -> str:
    """The local name of a tag; "" for comments and processing instructions."""
    return tag[tag.rfind("}") + 1:] if isinstance(tag, str) else ""


def iter_items(fp: BinaryIO, wanted: Mapping[str, frozenset[str] | None]) -> Iterator[tuple[str, Element, str]]:
    """(local name, element, parent's local name) for each complete element named in `wanted`, in
    document order; `wanted[name]`, when not None, are the only parents it is wanted under (the
    element is left alone elsewhere). A yielded element is removed from the tree afterwards."""
    fp.seek(0)
    try:
        for _, elem in etree.iterparse(fp, events=("end",), tag=[f"{{*}}{n}" for n in wanted],
                                       resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False):
            name = local(elem.tag)
            parent = elem.getparent()
            parent_name = local(parent.tag) if parent is not None else ""
            allowed = wanted.get(name)
            if allowed is not None and parent_name not in allowed:
                continue
            yield name, elem, parent_name
            elem.clear(keep_tail=False)
            # the siblings before it, complete and read by now; never it or later ones: libxml2 has
            # parsed ahead and attaches what follows to the last child (deleting it detached them)
            while elem.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as exc:  # checked by pass 1; kept as a clear error anyway
        raise Unreadable(f"XML error: {exc}") from None


@lru_cache(maxsize=256)
def _path(path: tuple[str, ...]) -> str:
    return "/".join("{*}" + name for name in path)  # any namespace, or none


def child(elem: Element | None, *path: str) -> Element | None:
    """The first element along `path` of local names (direct children at each step)."""
    return None if elem is None else elem.find(_path(path))


def children(elem: Element | None, name: str) -> list[Element]:
    return [] if elem is None else elem.findall(_path((name,)))


def text(elem: Element | None, *path: str) -> str | None:
    """Stripped text of the element along `path`; None when absent or blank."""
    found = child(elem, *path) if path else elem
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def attr(elem: Element, name: str) -> str | None:
    value = elem.get(name)
    return value.strip() if value is not None and value.strip() else None
