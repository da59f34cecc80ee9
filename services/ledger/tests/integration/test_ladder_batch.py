"""The allocation ladder in the payments batch path: rules recorded, ambiguity to suspense,
the in-memory set of known references refreshed by an account import."""
from __future__ import annotations

from ledger_support import CSV, payment, poll, running_ledger

HEADER = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,so_reference\n"
ACCOUNTS = HEADER + (
    "20000002,Ann,1 A St,N,2026-04-06,10000,0,\n"
    "30000003,Bob,2 A St,N,2026-04-06,10000,0,SO-BOB\n"
    "30000030,Cy,3 A St,N,2026-04-06,10000,0,\n")


async def test_ladder_rules_and_refresh(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        r = await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)
        assert r.status_code == 200 and r.json()["created"] == 3, r.text
        pays = {
            "text": payment("RENT 2000 0002 THANK YOU", 100, "bank_transfer"),
            "so": payment("so bob", 200, "standing_order"),
            "swap": payment("20000020", 300),
            "digit": payment("20000092", 400),
            "ambiguous": payment("30000033", 500),
            "new": payment("flat 9 ref 40000004", 600, "bank_transfer"),
        }
        await ledger.publish("payments.received.v1", *pays.values())

        async def done():
            s = (await ledger.http.get("/v1/suspense")).json()
            return s["count"] == 2 and s
        s = await poll(done)
        reasons = {i["reference"]: i["reason"] for i in s["items"]}
        assert reasons["30000033"].startswith("ambiguous: 2 candidates (one correctable error: 30000003, 30000030")
        assert reasons["flat 9 ref 40000004"] == "no account matches reference 'flat 9 ref 40000004'"
        a = await ledger.account("20000002")
        assert {t["amount_pence"]: t["allocation_rule"] for t in a["transactions"]} == {
            -100: "reference_in_text", -300: "corrected_transposition", -400: "corrected_digit"}
        b = await ledger.account("30000003")
        assert b["so_reference"] == "SOBOB" and b["transactions"][0]["allocation_rule"] == "so_reference"

        # a new account imported after the known references were cached: the next payment sees it
        r = await ledger.http.post("/v1/accounts/import", content=HEADER + "40000004,Dee,4 A St,N,2026-04-06,10000,0,\n",
                                   headers=CSV)
        assert r.json()["created"] == 1
        await ledger.publish("payments.received.v1", payment("flat 9 ref 40000004 again", 700, "bank_transfer"))

        async def posted():
            d = await ledger.account("40000004")
            return d["transactions"] and d
        d = await poll(posted)
        assert d["transactions"][0]["allocation_rule"] == "reference_in_text"
        inv = (await ledger.http.get("/v1/invariants")).json()
        assert inv["balanced"], inv


async def test_journals_are_in_the_outbox_before_the_accounts_are_locked(
        infra, service_env, topic_prefix, monkeypatch):
    """The receipts write their journals' (and suspense items') events to the outbox before they lock the
    accounts (held until the commit), so that COPY is not done under the locks; the postings' events,
    which need the balances, come after."""
    from rentflow_ledger.adapters import sql

    seen: list[list[str]] = []
    move = sql.SqlAccounts.move_for_receipts

    async def move_and_look(self, deltas, at):
        # the outbox rows this transaction has written so far
        seen.append([r[0] for r in await self.raw.fetch(
            "select topic from outbox_events where xmin = pg_current_xact_id()::xid order by batch, n")])
        return await move(self, deltas, at)

    monkeypatch.setattr(sql.SqlAccounts, "move_for_receipts", move_and_look)
    async with running_ledger(infra, topic_prefix) as ledger:
        r = await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)
        assert r.status_code == 200, r.text
        await ledger.publish("payments.received.v1", payment("20000002", 100), payment("nobody", 200))

        async def done():
            d = await ledger.account("20000002")
            s = (await ledger.http.get("/v1/suspense")).json()
            return d["transactions"] and s["count"] == 1
        await poll(done)
    # the two payments may come in one batch or two (keyed by provider ref): each batch that locks has its journal
    assert seen and all("gl.journals.v1" in topics and "ledger.transactions.v1" not in topics for topics in seen), seen
