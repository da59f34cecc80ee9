"""Closing a month: nothing lands in it afterwards, late items keep their value date in the next
open month; the reconciliation names an injected difference."""
from __future__ import annotations

import datetime as dt

from ledger_support import CSV, UTC, payment, poll, running_ledger
from rentflow_common.testing import gl_daily_since, london_today

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,"
            "balance_date\n"
            "80000001,Ann,1 A St,N,2026-03-30,10000,0,2026-04-05\n")


async def test_close_period_and_reconcile(infra, service_env, topic_prefix):
    started_on = london_today()
    async with running_ledger(infra, topic_prefix) as ledger:
        http = ledger.http
        assert (await http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        assert (await http.post("/v1/debits/run", json={"through": "2026-04-26"})).json()["debits_raised"] == 3
        r = await http.post("/v1/periods/2026-04/close", json={"by": "tester"})
        assert r.status_code == 200 and r.json()["closed_by"] == "tester"
        r = await http.post("/v1/periods/2026-04/close", json={"by": "tester"})
        assert r.status_code == 409 and "already closed" in r.json()["detail"]
        assert (await http.post("/v1/periods/2026-13/close", json={})).status_code == 422
        assert (await http.get("/v1/periods")).json()["closed"][0]["period"] == "2026-04"

        # late: a payment made on 28 April, a debit for week 27 April, a suspense item allocated late
        late = payment("80000001", 2500, paid=dt.datetime(2026, 4, 28, 12, tzinfo=UTC))
        stray = payment("NOBODY", 700, "bank_transfer", paid=dt.datetime(2026, 5, 2, 12, tzinfo=UTC))
        await ledger.publish("payments.received.v1", late, stray)

        async def posted():
            a = await ledger.account("80000001")
            s = (await http.get("/v1/suspense")).json()
            return any(t["type"] == "RCP" for t in a["transactions"]) and s["count"] == 1 and a
        await poll(posted)
        assert (await http.post("/v1/debits/run", json={"through": "2026-05-03"})).json()["debits_raised"] == 1
        assert (await http.post("/v1/periods/2026-05/close", json={"by": "tester"})).status_code == 200
        r = await http.post(f"/v1/suspense/{stray.data.payment_id}/allocate",
                            json={"account_ref": "80000001", "note": "phoned"})
        assert r.status_code == 200, r.text

        txns = (await ledger.account("80000001"))["transactions"]
        rcp = next(t for t in txns if t["type"] == "RCP")
        assert rcp["business_date"] == "2026-04-28"  # the value date is kept
        week = next(t for t in txns if t["type"] == "DBR" and t["business_date"] == "2026-04-27")
        allocated = next(t for t in txns if t["allocation_rule"] == "manual")
        assert allocated["business_date"] == "2026-05-02"
        emitted = {e["data"]["transaction_id"]: e["data"]["period"]
                   for e in await ledger.read("ledger.transactions.v1", 7)}
        assert emitted[rcp["transaction_id"]] == "2026-05" and emitted[week["transaction_id"]] == "2026-05"
        assert emitted[allocated["transaction_id"]] == "2026-06"
        journals = await ledger.read("gl.journals.v1", 7)
        april = [j["data"] for j in journals if j["data"]["period"] == "2026-04"]
        assert {j["kind"] for j in april} == {"debit"} and len(april) == 3  # only what was posted before closing

        # a receipt on the wrong account moves to another: reversal and re-post, value date kept
        import_other = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n" \
            "80000002,Bob,2 A St,N,2026-06-01,10000,0\n"
        assert (await http.post("/v1/accounts/import", content=import_other, headers=CSV)).status_code == 200
        r = await http.post(f"/v1/transactions/{rcp['transaction_id']}/move",
                            json={"account_ref": "8000-0002", "note": "wrong tenant"})
        assert r.status_code == 200, r.text
        assert r.json()["account_ref"] == "80000002" and r.json()["balance_pence"] == -2500
        again = await http.post(f"/v1/transactions/{rcp['transaction_id']}/move",
                                json={"account_ref": "80000002", "note": "x"})
        assert again.status_code == 409 and "already moved" in again.json()["detail"]
        assert (await http.post(f"/v1/transactions/{week['transaction_id']}/move",
                                json={"account_ref": "80000002", "note": "x"})).status_code == 409
        bob = (await ledger.account("80000002"))["transactions"]
        assert [(t["type"], t["amount_pence"], t["business_date"]) for t in bob] == [("RCP", -2500, "2026-04-28")]

        for period in ("2026-04", "2026-05", "2026-06"):
            rec = (await http.get("/v1/gl/reconcile", params={"period": period})).json()
            assert rec["balanced"] and rec["differences"] == [], rec
        assert (await http.get("/v1/gl/reconcile", params={"period": "2026-04"})).json()["closed"]

        # the day's GL batch for finance: everything above was posted today, in three periods
        daily = await gl_daily_since(http, started_on)
        assert daily["balanced"] and daily["debit_pence"] == daily["credit_pence"] > 0
        assert daily["journals_by_kind"]["debit"] == 4 and daily["journals_by_kind"]["suspense_allocated"] == 1
        assert {x["period"] for x in daily["lines"]} == {"2026-04", "2026-05", "2026-06"}
        balances = sum([(await ledger.account(ref))["balance_pence"] for ref in ("80000001", "80000002")])
        assert sum(x["net_pence"] for x in daily["lines"] if x["gl_code"] == "DEBTORS_CONTROL") == balances
        day_before = (started_on - dt.timedelta(days=1)).isoformat()
        before = (await http.get("/v1/gl/daily", params={"date": day_before})).json()
        assert before["journals"] == 0 and before["lines"] == [] and before["balanced"]
        assert (await http.get("/v1/gl/daily", params={"date": "2026-02-30"})).status_code == 422

        # inject a difference: a stored balance changed behind the ledger's back
        async with ledger_db(ledger) as raw:
            await raw.execute("update accounts set balance_pence = balance_pence + 123 where account_ref = '80000001'")
        rec = (await http.get("/v1/gl/reconcile", params={"period": "2026-06"})).json()
        assert not rec["balanced"]
        assert rec["differences"] == [{"account_ref": "80000001", "amount_pence": 123,
                                       "reason": rec["differences"][0]["reason"]}]
        assert "differs from the sum of its postings" in rec["differences"][0]["reason"]
        # and an unbalanced journal line
        async with ledger_db(ledger) as raw:
            jid = await raw.fetchval("select journal_id from journal_lines where period = '2026-06' limit 1")
            await raw.execute("update journal_lines set debit_pence = debit_pence + 1 where journal_id = $1 "
                              "and debit_pence > 0", jid)
        rec = (await http.get("/v1/gl/reconcile", params={"period": "2026-06"})).json()
        assert {"journal_id": str(jid), "amount_pence": 1,
                "reason": "journal does not balance (debits minus credits)"} in rec["differences"]
        assert not (await http.get("/v1/invariants")).json()["balanced"]


def ledger_db(ledger):
    from rentflow_common.db import UnitOfWork
    import contextlib

    @contextlib.asynccontextmanager
    async def cm():
        async with UnitOfWork(ledger.engine) as uow:
            yield uow.raw
            await uow.commit()
    return cm()
