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
