"""Maker-checker adjustments, refunds, write-offs and transfers through the HTTP API."""
from __future__ import annotations

import uuid

from ledger_support import CSV, running_ledger

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,tenancy_end,weekly_rent_pence,opening_balance_pence\n"
            "70000001,Former,1 A St,N,2020-04-06,2026-03-29,10000,50000\n"   # former tenant owing 500.00
            "70000002,Current,2 A St,N,2026-04-06,,10000,0\n"
            "70000003,Credit,3 A St,N,2026-04-06,,10000,-3000\n")


async def test_maker_checker(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        r = await http.post("/v1/approvers", json={"name": "Mia", "role": "manager"})
        assert r.status_code == 201 and r.json() == {"name": "Mia", "role": "manager"}
        assert (await http.post("/v1/approvers", json={"name": "Olly", "role": "officer"})).status_code == 201
        assert (await http.post("/v1/approvers", json={"name": "Olly", "role": "officer"})).status_code == 200

        sam = await ledger.user("Sam", "officer", "manager")  # a manager too: still never approves their own
        olly = await ledger.user("Olly", "officer", patches=("N",))
        mia = await ledger.user("Mia", "manager")

        async def request(**body):
            return await http.post("/v1/adjustments", json={"reason": "r", **body}, headers=sam)

        async def approve(rid, who=mia, **body):
            return await http.post(f"/v1/adjustments/{rid}/approve", json=body, headers=who)

        # refused at request: bad write-off reason, refund beyond credit, unknown account, bad transfer
        r = await request(account_ref="70000001", type="write_off", amount_pence=100, reason="felt like it")
        assert r.status_code == 422 and "uneconomical to pursue" in r.json()["detail"]
        r = await request(account_ref="70000003", type="refund", amount_pence=3001)
        assert r.status_code == 409 and r.json()["detail"] == (
            "a refund of £30.01 exceeds the credit on 70000003: it is £30.00 in credit")
        assert (await request(account_ref="NOPE", type="refund", amount_pence=1)).status_code == 404
        r = await request(account_ref="70000001", type="transfer", amount_pence=1)
        assert r.status_code == 422 and "to_account_ref" in r.json()["detail"]

        refund = await request(account_ref="70000003", type="refund", amount_pence=2000)
        assert refund.status_code == 201 and refund.json()["status"] == "pending"
        rid = refund.json()["request_id"]
        assert (await ledger.account("70000003"))["balance_pence"] == -3000  # nothing posted yet

        assert (await request(account_ref="70000003", type="refund", amount_pence=1, by="Mia")).status_code == 403
        r = await approve(rid, sam)
        assert r.status_code == 403 and "requester" in r.json()["detail"]
        r = await approve(rid, olly)
        assert r.status_code == 403 and "needs one of the roles manager" in r.json()["detail"]
        r = await approve(rid, mia, by="Sam")  # naming someone else than the token's user
        assert r.status_code == 403 and "is not you" in r.json()["detail"]
        r = await approve(rid, mia, by="mia")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "approved" and r.json()["balance_pence"] == -1000
        assert r.json()["requested_by"] == "Sam" and r.json()["approved_by"] == "Mia"
        r = await approve(rid)
        assert r.status_code == 409 and "already approved" in r.json()["detail"]
        assert (await approve(uuid.uuid4())).status_code == 404

        # a second refund approved after the credit shrank is refused at approval
        again = (await request(account_ref="70000003", type="refund", amount_pence=1000)).json()["request_id"]
        late = (await request(account_ref="70000003", type="adjustment", amount_pence=500)).json()["request_id"]
        assert (await approve(late)).status_code == 200
        r = await approve(again)
        assert r.status_code == 409 and "it is £5.00 in credit" in r.json()["detail"]

        # transfer former → current, then write off what is left
        t = (await request(account_ref="70000001", type="transfer", amount_pence=20000, to_account_ref="70000002"))
        assert t.status_code == 201, t.text
        r = await approve(t.json()['request_id'])
        assert r.json()["balances"] == {"70000001": 30000, "70000002": 20000}
        w = await request(account_ref="70000001", type="write_off", amount_pence=30000,
                          reason="Address unknown: no forwarding address")
        assert w.status_code == 201, w.text
        assert (await approve(w.json()['request_id'])).json()["balance_pence"] == 0

        former = await ledger.account("70000001")
        assert [(t["type"], t["amount_pence"]) for t in former["transactions"]] == [
            ("BBF", 50000), ("RIT", -20000), ("WOF", -30000)]
        current = await ledger.account("70000002")
        assert [(t["type"], t["amount_pence"]) for t in current["transactions"]] == [("RIT", 20000)]
        credit = await ledger.account("70000003")
        assert [(t["type"], t["amount_pence"]) for t in credit["transactions"]] == [
            ("BBF", -3000), ("REF", 2000), ("WON", 500)]
        pending = (await http.get("/v1/adjustments", params={"status": "pending"})).json()
        assert pending["count"] == 1 and pending["requests"][0]["request_id"] == again
        assert (await http.get("/v1/invariants")).json()["balanced"]

        journals = [j["data"] for j in await ledger.read("gl.journals.v1", 6) if j["data"]["kind"] == "adjustment"]
        assert len(journals) == 4
        gl = {}
        for j in journals:
            for x in j["lines"]:
                gl[x["gl_code"]] = gl.get(x["gl_code"], 0) + x["debit_pence"] - x["credit_pence"]
        # refund Dr control Cr bank; write-on Dr control Cr adjustments; transfer nets to nil; write-off
        assert gl == {"DEBTORS_CONTROL": 2000 + 500 - 30000, "BANK": -2000, "INCOME_ADJUSTMENTS": -500,
                      "BAD_DEBT_PROVISION": 30000}


TRANSFER_ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n"
                     "71000001,Credit,1 B St,N,2026-04-06,10000,-15000\n"   # £150.00 in credit
                     "71000002,Owes,2 B St,N,2026-04-06,10000,2000\n")       # owes £20.00


async def test_a_transfer_says_what_moves_and_never_more_than_the_source_holds(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=TRANSFER_ACCOUNTS, headers=CSV)).status_code == 200
        sam, mia = await ledger.user("sam", "officer", patches=("N",)), await ledger.user("Mia", "manager")

        async def request(**body):
            return await http.post("/v1/adjustments", json={"reason": "r", "type": "transfer", **body}, headers=sam)

        async def approve(rid):
            return await http.post(f"/v1/adjustments/{rid}/approve", headers=mia)

        # more credit than the source holds, or debt from an account in credit: refused at request
        r = await request(account_ref="71000001", to_account_ref="71000002", moves="credit", amount_pence=15001)
        assert r.status_code == 409 and r.json()["detail"] == (
            "cannot move £150.01 of credit from 71000001: it is £150.00 in credit")
        r = await request(account_ref="71000001", to_account_ref="71000002", moves="debt", amount_pence=100)
        assert r.status_code == 409 and "of debt from 71000001" in r.json()["detail"]
        r = await request(account_ref="71000001", to_account_ref="71000002", amount_pence=10000)  # older form
        assert r.status_code == 422 and "moves=credit" in r.json()["detail"]

        # £100 of credit from A to B: A £100 less in credit, B £100 more
        t = await request(account_ref="71000001", to_account_ref="71000002", moves="credit", amount_pence=10000)
        assert t.status_code == 201, t.text
        assert t.json()["moves"] == "credit" and t.json()["amount_pence"] == -10000  # signed balance leaving A
        # a second request, fine while A still holds £150, is checked again at approval
        late = await request(account_ref="71000001", to_account_ref="71000002", moves="credit", amount_pence=6000)
        assert late.status_code == 201, late.text
        r = await approve(t.json()['request_id'])
        assert r.status_code == 200, r.text
        assert r.json()["balances"] == {"71000001": -5000, "71000002": -8000}
        r = await approve(late.json()['request_id'])
        assert r.status_code == 409 and r.json()["detail"] == (
            "cannot move £60.00 of credit from 71000001: it is £50.00 in credit")
        assert (await ledger.account("71000001"))["balance_pence"] == -5000
        assert (await http.get("/v1/invariants")).json()["balanced"]


async def test_a_manager_approves_up_to_their_limit_per_type(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        sam = await ledger.user("Sam", "officer", patches=("N",))
        capped = await ledger.user("Cap", "manager", limits={"write_off": 10000, "*": 100})
        senior = await ledger.user("Senior", "manager")  # no limit

        async def request(**body):
            r = await http.post("/v1/adjustments", json={"reason": "uneconomical to pursue", **body}, headers=sam)
            assert r.status_code == 201, r.text
            return r.json()["request_id"]

        small = await request(account_ref="70000001", type="write_off", amount_pence=10000)
        big = await request(account_ref="70000001", type="write_off", amount_pence=10001)
        other = await request(account_ref="70000002", type="adjustment", amount_pence=-101)
        r = await http.post(f"/v1/adjustments/{big}/approve", headers=capped)
        assert r.status_code == 403 and "at most 10000 pence" in r.json()["detail"]
        r = await http.post(f"/v1/adjustments/{other}/approve", headers=capped)  # `*` for the other types
        assert r.status_code == 403 and "at most 100 pence" in r.json()["detail"]
        assert (await http.post(f"/v1/adjustments/{small}/approve", headers=capped)).status_code == 200
        assert (await http.post(f"/v1/adjustments/{big}/approve", headers=senior)).status_code == 200
        assert (await ledger.account("70000001"))["balance_pence"] == 50000 - 10000 - 10001
        # the officer cannot approve at all, whatever the amount
        assert (await http.post(f"/v1/adjustments/{other}/approve", headers=sam)).status_code == 403
