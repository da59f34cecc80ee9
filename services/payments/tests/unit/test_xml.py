"""The streaming XML reader: every wanted element, under the parents asked for, and nothing kept."""
import io

from rentflow_payments.domain.formats._xml import iter_items

DOC = (b'<Document xmlns="urn:x"><Stmt><Id>S</Id><Acct><Id><Othr><Id>1</Id></Othr></Id></Acct>'
       + b"".join(b"<Ntry><Amt>%d</Amt></Ntry>" % i for i in range(50)) + b"</Stmt></Document>")


def test_every_wanted_element_keeps_its_parent_and_earlier_siblings_are_dropped():
    seen = []
    for name, el, parent in iter_items(io.BytesIO(DOC), {"Acct": frozenset({"Stmt"}), "Ntry": frozenset({"Stmt"})}):
        earlier = el.getprevious()  # only the element yielded before, already emptied
        kept = (earlier.tag.split("}")[-1], len(earlier), earlier.getprevious()) if earlier is not None else None
        seen.append((name, parent, kept))
    assert seen[0] == ("Acct", "Stmt", ("Id", 0, None))
    # libxml2 parses ahead of the events: deleting the element itself used to detach all that followed
    assert seen[1:] == [("Ntry", "Stmt", ("Acct", 0, None))] + [("Ntry", "Stmt", ("Ntry", 0, None))] * 49


def test_a_namespace_name_that_is_not_a_uri_is_refused_before_any_item():
    """Expat takes any namespace name, libxml2 (pass 2) refuses one that is not a URI: found by
    test_formats_properties' fuzzing (an AUDDIS file whose xsi namespace had gained a backslash, read as
    ADDACS, was refused after five items had been handed out)."""
    import pytest

    from rentflow_payments.domain.formats import Unreadable
    from rentflow_payments.domain.formats._xml import check_well_formed

    bad = b'<Document xmlns:xsi="http://www.w3.org/2001/XMLSchema-i\\stance"><Ntry/></Document>'
    with pytest.raises(Unreadable, match=r"is not a valid URI \(line 1, column 1\)"):
        check_well_formed(io.BytesIO(bad), "test")
    for uri in (b"http://www.w3.org/2001/XMLSchema-instance", b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
                b"relative/but/a/uri"):
        check_well_formed(io.BytesIO(b'<Document xmlns="%s" xmlns:x="%s"><Ntry/></Document>' % (uri, uri)), "test")
    with pytest.raises(Unreadable, match="is not a valid URI"):  # the default namespace too
        check_well_formed(io.BytesIO(b'<Document xmlns="http://x/^"><Ntry/></Document>'), "test")
    long = b"http://x/" + b"a" * 5000  # longer than the answers kept (CACHED_NAMESPACE): asked each time
    check_well_formed(io.BytesIO(b'<Document xmlns="%s"><Ntry/></Document>' % long), "test")
    with pytest.raises(Unreadable, match="is not a valid URI"):
        check_well_formed(io.BytesIO(b'<Document xmlns="%s^"><Ntry/></Document>' % long), "test")
