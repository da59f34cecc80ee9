"""A file is taken whole or not at all: one found unreadable only at its end (here a camt.053 of
2,500 good entries, then XML nested too deeply for the parser) posts nothing and its import ends
`failed`, never `running`; the same file made good is then taken in full."""
from __future__ import annotations

import hashlib

from rentflow_payments import samples
from rentflow_payments.domain.events import import_id

GOOD = 2500


def statement(tail: str = "") -> bytes:
    entries = [samples.Entry(acct_ref=f"ACR{i:06d}", txs=[samples.Tx(1000 + i, reference=f"RENT {i:06d}",
                                                                      end_to_end=f"E2E-{i}")])
               for i in range(GOOD)]
    head = samples.camt_head("STMT-ATOMIC")
    return (head + "".join(samples.camt_entry(e) for e in entries) + tail + samples.CAMT_TAIL).encode()


DEEP = "<Ntry><AddtlNtryInf>" + "<x>" * 400 + "deep" + "</x>" * 400 + "</AddtlNtryInf></Ntry>"


async def test_a_camt053_unreadable_at_its_end_posts_nothing_and_its_import_fails(svc):
    bad = statement(DEEP)
    r = await svc.client.post("/v1/imports", params={"format": "camt053", "provider": "bank"}, content=bad)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("unreadable file:") and "depth" in r.json()["detail"].lower()

    imp = import_id("bank", hashlib.sha256(bad).hexdigest())
    shown = (await svc.client.get(f"/v1/imports/{imp}")).json()
    assert shown["status"] == "failed" and shown["accepted"] == 0 and shown["processed"] == 0, shown
    assert "depth" in shown["errors"][0]["reason"].lower()
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert await raw.fetchval("select count(*) from payments") == 0
    await svc.drained()
    assert svc.runtime.relay.published == 0  # nothing emitted either

    good = statement()
    r = await svc.client.post("/v1/imports", params={"format": "camt053", "provider": "bank"}, content=good)
    assert r.status_code == 202, r.text
    assert (r.json()["accepted"], r.json()["rejected"]) == (GOOD, 0)
    shown = (await svc.client.get(f"/v1/imports/{r.json()['import_id']}")).json()
    assert shown["status"] == "completed" and shown["processed"] == GOOD
    async with svc.runtime.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert await raw.fetchval("select count(*) from payments") == GOOD
