"""The ledger in process, on real PostgreSQL and the real broker: import, debit run, payments
consumed from payments.received.v1, suspense, manual allocation, events out, invariants."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import httpx

from rentflow_common.testing import grant
from aiokafka import AIOKafkaProducer

from rentflow_common.kafka import ensure_topics
from rentflow_ledger.bootstrap import build_app
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.payments import PaymentReceived

from ledger_support import poll, read_topic

UTC = dt.timezone.utc
HEADER = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
          "weekly_charges_pence,payment_method,dd_reference,officer,balance_date\n")
ACCOUNTS = HEADER + (
    "1000-0001,Ann Lee,1 High St,North,2026-03-02,12500,1000,500,dd,DD-0001,Sam,2026-04-05\n"   # line 2
    "10000002,Bob Roy,2 High St,South,2026-04-08,11000,0,,so,,Kim,\n"                          # line 3
    "10000003,Cy Dee,3 High St,South,2026-04-06,10000,-2000,,card,,,\n"                         # line 4
    "10000004,Bad Row,4 High St,South,not-a-date,10000,0,,,,,\n")                               # line 5


def payment(ref: str, amount: int, channel: str = "card", provider_ref: str | None = None, *,
            event_id: uuid.UUID | None = None):
    provider_ref = provider_ref or uuid.uuid4().hex[:12]
    paid = dt.datetime(2026, 4, 30, 23, 30, tzinfo=UTC)  # 1 May in London
    data = PaymentReceived(payment_id=derive_event_id("payment", "prov", provider_ref), provider_id="prov",
                           provider_ref=provider_ref, channel=channel, amount_pence=amount, paid_at=paid,
                           received_at=paid, reference=ref, payer_name="Payer")
    return new_envelope(data, event_type="payments.received", producer="payments", correlation_id="test",
                        event_id=event_id or derive_event_id("payments.received", data.payment_id))





async def test_ledger_end_to_end(infra, service_env, topic_prefix):
    t0 = asyncio.get_running_loop().time()

    def mark(what: str) -> None:
        print(f"{asyncio.get_running_loop().time() - t0:6.2f}s {what}")

    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=topic_prefix)
    app = build_app()
    runtime = app.state.runtime
    await runtime.start()
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            # --- import: bad row named by line and field, the rest imported
            r = await http.post("/v1/accounts/import", content=ACCOUNTS, headers={"Content-Type": "text/csv"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["created"], body["updated"], body["unchanged"]) == (3, 0, 0)
            assert body["errors"] == [{"line": 5, "field": "tenancy_start",
                                       "reason": "not a date (e.g. 2020-04-06 or 06/04/2020): 'not-a-date'"}]
            # re-import: nothing new; a change updates without re-posting the opening balance
            changed = ACCOUNTS.replace("Bob Roy,2 High St,South,2026-04-08,11000", "Bob Roy,2 High St,South,2026-04-08,11500")
            r = await http.post("/v1/accounts/import", content=changed, headers={"Content-Type": "text/csv"})
            assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 1, 2)
            r = await http.post("/v1/accounts/import", content=HEADER.replace("patch,", ""))
            assert r.status_code == 422 and "patch" in r.json()["detail"]
            r = await http.post("/v1/accounts/import", content=HEADER + "X,,,,,,\n")
            assert r.status_code == 422 and r.json()["errors"]

            # optional columns in another order, an extra column ignored; tenancy ends mid-week
            r = await http.post("/v1/accounts/import", content=(
                "tenancy_end,account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,"
                "opening_balance_pence,colour\n2026-04-15,10000005,Eve Fox,5 High St,East,2026-04-06,9000,0,red\n"))
            assert r.json() == {"created": 1, "updated": 0, "unchanged": 0, "errors": []}

            acc = (await http.get("/v1/accounts/1000 0001")).json()
            assert acc["balance_pence"] == 1000 and [t["type"] for t in acc["transactions"]] == ["BBF"]
            assert (await http.get("/v1/accounts/10000003")).json()["balance_pence"] == -2000
            assert (await http.get("/v1/accounts/NOPE")).status_code == 404

            mark("imported")
            # --- debit run twice charges once
            r = await http.post("/v1/debits/run", json={"through": "2026-04-26"})
            assert r.status_code == 200, r.text
            # 0001: weeks 6,13,20 Apr (balance date 5 Apr) rent+charges; 0002: starts Wed 8 Apr → 5 days of the
            # week of 6 Apr (11500 x 5/7 = 8214.29 → 8214), 13, 20; 0003: 6, 13, 20; 0005: ends Wed 15 Apr → 6, and
            # 3 days of 13 (9000 x 3/7 = 3857.14 → 3857)
            assert r.json() == {"through": "2026-04-26", "debits_raised": 6 + 3 + 3 + 2,
                                "amount_pence": 3 * 13000 + 8214 + 2 * 11500 + 3 * 10000 + 9000 + 3857, "accounts": 4}
            r = await http.post("/v1/debits/run", json={"through": "2026-04-26"})
            assert r.json()["debits_raised"] == 0 and r.json()["amount_pence"] == 0
            acc = (await http.get("/v1/accounts/10000001")).json()
            assert acc["balance_pence"] == 1000 + 3 * 13000
            dbr = [t for t in acc["transactions"] if t["type"] == "DBR"]
            assert [t["business_date"] for t in dbr] == ["2026-04-06", "2026-04-13", "2026-04-20"]

            mark("debits")
            # --- payments through the broker
            matched = payment("1000-0001", 5000)
            by_dd = payment("dd 0001", 7000, "direct_debit")
            unmatched = payment("R-UNKNOWN", 1234, "bank_transfer")
            no_ref = payment("", 99, "cash")
            second = payment("10000001", 1000, "cash")
            redelivered = payment("10000002", 2500, "standing_order")
            # the same payment carried by a second event (a provider re-send with a new event id)
            resent = payment("10000002", 2500, "standing_order", redelivered.data.provider_ref,
                             event_id=uuid.uuid4())
            topic = topic_prefix + "payments.received.v1"
            for env in (matched, by_dd, unmatched, no_ref, second, redelivered, redelivered, resent):
                await producer.send_and_wait(topic, env.model_dump_json().encode(),
                                             key=f"prov:{env.data.provider_ref}".encode())

            async def settled():
                s = (await http.get("/v1/suspense")).json()
                a = (await http.get("/v1/accounts/10000002")).json()
                b = (await http.get("/v1/accounts/10000001")).json()
                receipts = [t for t in b["transactions"] if t["type"].startswith("R")]
                return (s["count"] == 2 and len(receipts) == 3 and
                        any(t["type"] == "RSO" for t in a["transactions"])) and (s, a, b)
            s, a, b = await poll(settled)
            mark("payments consumed")
            assert b["balance_pence"] == 1000 + 3 * 13000 - 5000 - 7000 - 1000
            rules = {t["type"]: t["allocation_rule"] for t in b["transactions"] if t["type"].startswith("R")}
            assert rules == {"RCP": "exact_reference", "RDD": "dd_reference", "RPY": "exact_reference"}
            last = b["transactions"][-1]
            assert last["business_date"] == "2026-05-01" and last["amount_pence"] < 0
            # several payments in one account → consecutive balances
            after = [t["balance_after_pence"] for t in b["transactions"]]
            assert all(after[i] == after[i - 1] + b["transactions"][i]["amount_pence"] for i in range(1, len(after)))
            assert a["balance_pence"] == 8214 + 2 * 11500 - 2500
            assert s["total_pence"] == 1234 + 99
            reasons = {i["reference"]: i["reason"] for i in s["items"]}
            assert reasons == {"R-UNKNOWN": "no account matches reference 'R-UNKNOWN'", "": "no reference"}

            inv = (await http.get("/v1/invariants")).json()
            assert inv["balanced"] and inv["unbalanced_journals"] == 0, inv
            assert inv["accounts_total_pence"] == inv["control_account_pence"]
            rec = (await http.get("/v1/gl/reconcile", params={"period": "2026-05"})).json()
            assert rec["balanced"] and rec["suspense_pence"] == 1333, rec
            rec = (await http.get("/v1/gl/reconcile", params={"period": "2026-04"})).json()
            assert rec["balanced"] and rec["suspense_pence"] == 0, rec

            # --- manual allocation
            pid = str(unmatched.data.payment_id)
            r = await http.post(f"/v1/suspense/{pid}/allocate",
                                json={"account_ref": "1000-0003", "note": "phoned"})
            assert r.status_code == 200, r.text
            assert r.json()["account_ref"] == "10000003" and r.json()["balance_pence"] == -2000 + 30000 - 1234
            audit = (await http.get("/v1/audit", params={"account": "10000003"})).json()["entries"]
            assert [(e["user"], e["action"], e["after"]["note"]) for e in audit] == [
                ("tester", "suspense.allocated", "phoned")]
            r = await http.post(f"/v1/suspense/{pid}/allocate", json={"account_ref": "10000003", "note": "y"})
            assert r.status_code == 409 and "already allocated" in r.json()["detail"]
            r = await http.post(f"/v1/suspense/{no_ref.data.payment_id}/allocate",
                                json={"account_ref": "NOPE", "note": "y"})
            assert r.status_code == 404
            r = await http.post(f"/v1/suspense/{uuid.uuid4()}/allocate", json={"account_ref": "10000003",
                                                                                "note": "y"})
            assert r.status_code == 404
            c = (await http.get("/v1/accounts/10000003")).json()
            assert c["transactions"][-1]["allocation_rule"] == "manual"
            assert c["transactions"][-1]["business_date"] == "2026-05-01"  # the payment's value date
            rec = (await http.get("/v1/gl/reconcile", params={"period": "2026-05"})).json()
            assert rec["balanced"] and rec["suspense_pence"] == 99, rec
            assert (await http.get("/v1/suspense")).json()["count"] == 1
            assert (await http.get("/v1/invariants")).json()["balanced"]
            listing = (await http.get("/v1/accounts", params={"limit": 2})).json()
            assert listing["total"] == 4 and len(listing["accounts"]) == 2
            assert listing["accounts"][0]["account_ref"] == "10000001" and "balance_pence" in listing["accounts"][0]
            assert (await http.get("/openapi.json")).status_code == 200
            assert (await http.get("/health")).json()["status"] == "ok"

        mark("allocated")
        # --- what the ledger emitted
        bootstrap = infra.kafka_bootstrap_servers
        txns = await read_topic(bootstrap, topic_prefix + "ledger.transactions.v1", 2 + 14 + 5)
        kinds = [t["data"]["type_code"] for t in txns]
        assert len(txns) == 21
        assert sorted(kinds) == sorted(["BBF", "BBF"] + ["DBR"] * 11 + ["DSC"] * 3 +
                                       ["RCP", "RDD", "RPY", "RSO", "RBP"]), kinds
        payment_txn = next(t for t in txns if t["data"]["type_code"] == "RCP")
        assert payment_txn["causation_id"] == str(matched.event_id)
        # 2 opening, 6 debit (3 weeks x DBR/DSC, one chunk), 2 unidentified, 1 allocated, and the 4
        # identified receipts in one journal per consumer batch, value date and bank/cash account,
        # crediting debtors control per account with exactly what the accounts received
        receipts: dict[str, int] = {}
        for t in txns:
            if t["data"]["type_code"] in ("RCP", "RDD", "RPY", "RSO", "RBP") and t["data"]["allocation_rule"] != "manual":
                receipts[t["data"]["account_ref"]] = receipts.get(t["data"]["account_ref"], 0) - t["data"]["amount_pence"]

        def credited(events: list[dict]) -> dict[str, int]:
            out: dict[str, int] = {}
            for e in events:
                if e["data"]["kind"] == "receipt":
                    for x in e["data"]["lines"]:
                        if x["gl_code"] == "DEBTORS_CONTROL":
                            out[x["account_ref"]] = out.get(x["account_ref"], 0) + x["credit_pence"] - x["debit_pence"]
            return out

        journals = await read_topic(bootstrap, topic_prefix + "gl.journals.v1",
                                    until=lambda events: len(events) >= 11 + 1 and credited(events) == receipts)
        assert credited(journals) == receipts and len(receipts) >= 2
        counts = {k: sum(1 for j in journals if j["data"]["kind"] == k) for k in
                  ("opening_balance", "debit", "unidentified_receipt", "suspense_allocated")}
        assert counts == {"opening_balance": 2, "debit": 6, "unidentified_receipt": 2, "suspense_allocated": 1}
        assert 1 <= sum(1 for j in journals if j["data"]["kind"] == "receipt") <= 4
        for j in journals:
            lines = j["data"]["lines"]
            assert sum(x["debit_pence"] for x in lines) == sum(x["credit_pence"] for x in lines)
        susp = await read_topic(bootstrap, topic_prefix + "ledger.suspense.v1", 3)
        assert sorted(e["data"]["action"] for e in susp) == ["allocated", "opened", "opened"]
        allocated = next(e for e in susp if e["data"]["action"] == "allocated")["data"]
        assert allocated["allocated_by"] == "tester" and allocated["note"] == "phoned"
        assert allocated["business_date"] == "2026-05-01"  # value date: London date of paid_at
        accounts = await read_topic(bootstrap, topic_prefix + "ledger.accounts.v1", 5)
        assert len(accounts) == 5  # four created, one changed; identical rows emitted nothing
    finally:
        await producer.stop()
        await runtime.stop()
