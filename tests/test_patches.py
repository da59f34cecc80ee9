"""An officer works only their own patches (docs/contract.md, Identity and roles): every officer route
of the ledger, notifications and reporting refuses an account, task, adjustment, notice, contact or
statement in another patch with 403 naming that patch, and lists leave them out; managers, finance
and admin see every patch. The three services run in-process on the real broker and PostgreSQL, and
the accounts reach notifications and reporting from the ledger's import over ledger.accounts.v1."""
from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from rentflow_common.kafka import ensure_topics
from rentflow_common.testing import grant, poll
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import EndedTenancyPayment

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,tenancy_end,weekly_rent_pence,opening_balance_pence,"
            "balance_date\n"
            "90000010,North Nia,1 N St,N1,2020-04-06,,10000,5000,2026-04-10\n"
            "90000028,South Sol,2 S St,S2,2020-04-06,,10000,7000,2026-04-10\n"
            "90000036,North Ned,3 N St,N1,2020-04-06,2026-03-29,10000,-2000,2026-04-10\n")
NORTH, SOUTH, FORMER = "90000010", "90000028", "90000036"


def _ended(ref: str) -> object:
    data = EndedTenancyPayment(transaction_id=uuid.uuid4(), payment_id=uuid.uuid4(), account_ref=ref,
                               amount_pence=1000, channel="card", reference=ref, business_date=dt.date(2026, 5, 4),
                               tenancy_end=dt.date(2026, 3, 29), balance_after_pence=0,
                               posted_at=dt.datetime(2026, 5, 4, 9, tzinfo=dt.timezone.utc))
    return new_envelope(data, event_type="ledger.ended_tenancy_payment", event_id=uuid.uuid4(), producer="test",
                        correlation_id="test-patches")


@pytest.mark.timeout(300)
async def test_an_officer_works_only_their_own_patches_on_every_officer_route(infra, service_env, topic_prefix):
    from rentflow_ledger.bootstrap import build_app as ledger_app
    from rentflow_notifications.bootstrap import build_app as notifications_app
    from rentflow_reporting.bootstrap import build_app as reporting_app

    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 1, prefix=topic_prefix)
    apps = {"ledger": ledger_app(), "notifications": notifications_app(), "reporting": reporting_app()}
    apps["ledger"].state.runtime.consumers.clear()  # HTTP and its outbox relay: the import's events go out
    for app in apps.values():
        await app.state.runtime.start()
    try:
        who: dict[str, dict[str, dict[str, str]]] = {name: {} for name in apps}
        for name, app in apps.items():
            who[name]["admin"] = await grant(app, "root", ("admin", "finance", "manager", "officer", "ops"))
            who[name]["asha"] = await grant(app, "Asha", ("officer",), patches=("N1",))
            who[name]["nobody"] = await grant(app, "Newbie", ("officer",))  # an officer given no patch yet
            who[name]["mia"] = await grant(app, "Mia", ("manager",))
            who[name]["fin"] = await grant(app, "Fin", ("finance",))
        clients = {name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60)
                   for name, app in apps.items()}
        led, notes, rep = clients["ledger"], clients["notifications"], clients["reporting"]
        L, N, R = who["ledger"], who["notifications"], who["reporting"]
        r = await led.post("/v1/accounts/import", content=ACCOUNTS, headers={**L["admin"], "Content-Type": "text/csv"})
        assert r.status_code == 200 and r.json()["created"] == 3, r.text

        # ---- ledger: account reads
        r = await led.get(f"/v1/accounts/{SOUTH}", headers=L["asha"])
        assert r.status_code == 403, r.text
        assert r.json()["detail"] == (f"Asha works patch N1: account {SOUTH} is in patch S2 (an officer acts only in "
                                      "their own patches; managers and finance see all)")
        assert (await led.get(f"/v1/accounts/{NORTH}", headers=L["asha"])).json()["patch"] == "N1"
        r = await led.get(f"/v1/accounts/{NORTH}", headers=L["nobody"])
        assert r.status_code == 403 and r.json()["detail"].startswith("Newbie has no patch, so works no account: "
                                                                      f"account {NORTH} is in patch N1"), r.text
        assert (await led.get("/v1/accounts/99999999", headers=L["asha"])).status_code == 404
        for boss in ("mia", "fin", "admin"):
            assert (await led.get(f"/v1/accounts/{SOUTH}", headers=L[boss])).status_code == 200, boss
        mine = (await led.get("/v1/accounts", headers=L["asha"])).json()
        assert ([a["account_ref"] for a in mine["accounts"]], mine["total"]) == ([NORTH, FORMER], 2)
        assert (await led.get("/v1/accounts", headers=L["nobody"])).json() == {"accounts": [], "total": 0}
        assert (await led.get("/v1/accounts", headers=L["mia"])).json()["total"] == 3

        # ---- ledger: adjustment requests, on the account and on a transfer's other account
        ask = {"type": "write_off", "amount_pence": 100, "reason": "uneconomical to pursue"}
        r = await led.post("/v1/adjustments", json={**ask, "account_ref": SOUTH}, headers=L["asha"])
        assert r.status_code == 403 and "patch S2" in r.json()["detail"], r.text
        r = await led.post("/v1/adjustments", json={"account_ref": FORMER, "type": "transfer", "moves": "credit",
                                                    "amount_pence": 500, "to_account_ref": SOUTH, "reason": "moved"},
                           headers=L["asha"])
        assert r.status_code == 403 and f"account {SOUTH} is in patch S2" in r.json()["detail"], r.text
        north_request = (await led.post("/v1/adjustments", json={**ask, "account_ref": NORTH},
                                        headers=L["asha"])).json()["request_id"]
        south_request = (await led.post("/v1/adjustments", json={**ask, "account_ref": SOUTH},
                                        headers=L["mia"])).json()["request_id"]
        listed = (await led.get("/v1/adjustments", headers=L["asha"])).json()
        assert [x["request_id"] for x in listed["requests"]] == [north_request] and listed["count"] == 1
        assert (await led.get("/v1/adjustments", headers=L["fin"])).json()["count"] == 2
        assert (await led.get(f"/v1/adjustments/{south_request}", headers=L["asha"])).status_code == 403
        assert (await led.get(f"/v1/adjustments/{north_request}", headers=L["asha"])).status_code == 200
        # nothing was asked in her name outside her patch
        assert {(x["account_ref"], x["requested_by"])
                for x in (await led.get("/v1/adjustments", headers=L["fin"])).json()["requests"]} == {
            (NORTH, "Asha"), (SOUTH, "Mia")}

        # ---- ledger: suspense allocation and moving a receipt (the patch is checked before anything else)
        note = {"note": "tenant phoned"}
        r = await led.post(f"/v1/suspense/{uuid.uuid4()}/allocate", json={**note, "account_ref": SOUTH},
                           headers=L["asha"])
        assert r.status_code == 403 and "patch S2" in r.json()["detail"], r.text
        r = await led.post(f"/v1/suspense/{uuid.uuid4()}/allocate", json={**note, "account_ref": NORTH},
                           headers=L["asha"])
        assert r.status_code == 404, r.text  # in her patch: past the patch, to the missing item
        south_txn = (await led.get(f"/v1/accounts/{SOUTH}", headers=L["mia"])).json()["transactions"][0]
        r = await led.post(f"/v1/transactions/{south_txn['transaction_id']}/move",
                           json={**note, "account_ref": NORTH}, headers=L["asha"])
        assert r.status_code == 403 and f"account {SOUTH} is in patch S2" in r.json()["detail"], r.text
        north_txn = (await led.get(f"/v1/accounts/{NORTH}", headers=L["asha"])).json()["transactions"][0]
        r = await led.post(f"/v1/transactions/{north_txn['transaction_id']}/move",
                           json={**note, "account_ref": SOUTH}, headers=L["asha"])
        assert r.status_code == 403 and "patch S2" in r.json()["detail"], r.text
        r = await led.post(f"/v1/transactions/{north_txn['transaction_id']}/move",
                           json={**note, "account_ref": SOUTH}, headers=L["mia"])
        assert r.status_code == 409, r.text  # a manager passes the patch; an opening balance is not a receipt

        # ---- notifications: tasks (the accounts arrive from the ledger's import)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            for ref in (NORTH, SOUTH):
                await producer.send_and_wait(topic_prefix + "ledger.ended-tenancy-payments.v1",
                                             _ended(ref).model_dump_json().encode(), key=ref.encode())
        finally:
            await producer.stop()

        async def both_tasks():  # and the accounts' patches known (until then, tasks on no known account)
            tasks = (await notes.get("/v1/tasks", headers=N["mia"])).json()["tasks"]
            known = await apps["notifications"].state.runtime.engine.connect()
            try:
                raw = (await known.get_raw_connection()).driver_connection
                patches = await raw.fetchval("select count(*) from accounts")
            finally:
                await known.close()
            return tasks if len(tasks) == 2 and patches == 3 else None

        tasks = {t["account_ref"]: t for t in await poll(both_tasks, 60, "two tasks and the accounts' patches")}
        seen = (await notes.get("/v1/tasks", headers=N["asha"])).json()
        assert [t["account_ref"] for t in seen["tasks"]] == [NORTH] and seen["count"] == 1
        assert (await notes.get("/v1/tasks", headers=N["nobody"])).json()["count"] == 0
        south_task = tasks[SOUTH]["task_id"]
        r = await notes.post(f"/v1/tasks/{south_task}/claim", headers=N["asha"])
        assert r.status_code == 403 and f"account {SOUTH} is in patch S2" in r.json()["detail"], r.text
        r = await notes.post(f"/v1/tasks/{south_task}/complete", json={"outcome": "x"}, headers=N["asha"])
        assert r.status_code == 403, r.text
        r = await notes.post(f"/v1/tasks/{tasks[NORTH]['task_id']}/claim", headers=N["asha"])
        assert r.status_code == 200 and r.json()["assigned_to"] == "Asha", r.text
        assert (await notes.post(f"/v1/tasks/{south_task}/claim", headers=N["mia"])).status_code == 200

        # ---- notifications: a tenant's contact, and notices
        r = await notes.put(f"/v1/contacts/{SOUTH}", json={"email": "sol@example.org"}, headers=N["asha"])
        assert r.status_code == 403 and "patch S2" in r.json()["detail"], r.text
        r = await notes.put(f"/v1/contacts/{NORTH}", json={"email": "nia@example.org"}, headers=N["asha"])
        assert r.status_code == 200, r.text
        assert (await notes.put(f"/v1/contacts/{SOUTH}", json={"email": "sol@example.org"},
                                headers=N["mia"])).status_code == 200
        assert (await notes.get("/v1/notices", headers=N["asha"])).status_code == 200

        # ---- reporting: one account's statement
        async def statement_ready():
            r = await rep.get(f"/v1/statements/2026-Q1/{SOUTH}", headers=R["fin"])
            return r if r.status_code == 200 else None

        await poll(statement_ready, 60, "reporting to know the accounts")
        r = await rep.get(f"/v1/statements/2026-Q1/{SOUTH}", headers=R["asha"])
        assert r.status_code == 403 and f"account {SOUTH} is in patch S2" in r.json()["detail"], r.text
        assert (await rep.get(f"/v1/statements/2026-Q1/{SOUTH}", headers=R["mia"])).status_code == 200
        assert (await rep.get(f"/v1/statements/2026-Q1/{NORTH}", headers=R["asha"])).status_code == 200
        for c in clients.values():
            await c.aclose()
    finally:
        for app in apps.values():
            await app.state.runtime.stop()
