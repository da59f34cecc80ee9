"""Replaying every input into an empty ledger gives the same balances; redelivered and re-sent
inputs change nothing. Two ledgers on two databases and two topic prefixes take the same
inputs; the first also gets every input again (same event) and payments re-sent (new event id)."""
from __future__ import annotations

import datetime as dt
import random
import uuid

from ledger_support import CSV, UTC, payment, poll, running_ledger
from rentflow_ledger.settings import LedgerSettings
from rentflow_common.testing import fresh_database_async
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.directdebit import DirectDebitReturned

REFS = [f"4000000{i}" for i in range(1, 6)]
ACCOUNTS = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,dd_reference\n" + \
    "".join(f"{r},T{i},{i} A St,N,2026-04-06,{9000 + i},{i * 100},DD{i}\n" for i, r in enumerate(REFS, 1))


def inputs(seed: int) -> list[tuple[str, object]]:
    rng = random.Random(seed)
    out: list[tuple[str, object]] = []
    for n in range(60):
        ref = rng.choice(REFS)
        quoted = rng.choice([ref, f"RENT {ref}", ref[:-2] + ref[-1] + ref[-2], "junk", "", f"DD{REFS.index(ref) + 1}"])
        channel = "direct_debit" if quoted.startswith("DD") else rng.choice(["card", "bank_transfer", "cash"])
        paid = dt.datetime(2026, 5, 1, 9, tzinfo=UTC) + dt.timedelta(hours=n)
        out.append(("payments.received.v1", payment(quoted, rng.randrange(100, 20000), channel, f"p{seed}-{n}",
                                                    paid=paid)))
        if channel == "direct_debit" and rng.random() < 0.5:
            rid = derive_event_id("return", seed, n)
            data = DirectDebitReturned(return_id=rid, provider_id="bacs", reference=quoted, amount_pence=999,
                                       return_code=rng.choice(["0", "1", "B"]), return_code_raw="0",
                                       original_processing_date=paid.date(), reported_on=dt.date(2026, 5, 20),
                                       received_at=paid)
            out.append(("directdebit.returned.v1", new_envelope(
                data, event_type="directdebit.returned", producer="payments", correlation_id="t",
                event_id=derive_event_id("directdebit.returned", rid))))
    return out


async def snapshot(ledger) -> dict:
    accounts = (await ledger.http.get("/v1/accounts", params={"limit": 100})).json()["accounts"]
    suspense = (await ledger.http.get("/v1/suspense")).json()
    return {"balances": {a["account_ref"]: a["balance_pence"] for a in accounts},
            "suspense": sorted(i["payment_id"] for i in suspense["items"])}


async def test_replay_and_redelivery(infra, service_env, topic_prefix):
    events = inputs(7)
    expected_returns = sum(1 for t, _ in events if t == "directdebit.returned.v1")
    n_payments = sum(1 for t, _ in events if t == "payments.received.v1")
    other = LedgerSettings.from_env().model_copy(update={"database_url": await fresh_database_async(infra),
                                                          "topic_prefix": f"r{uuid.uuid4().hex[:8]}."})
    results = []
    for n, settings in enumerate([None, other]):
        prefix = topic_prefix if settings is None else other.topic_prefix
        async with running_ledger(infra, prefix, settings=settings) as ledger:
            assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
            assert (await ledger.http.post("/v1/debits/run", json={"through": "2026-05-31"})).status_code == 200
            for topic, env in events:
                await ledger.publish(topic, env, key=str(getattr(env.data, "reference", "k")))
            if n == 0:  # redeliver everything, and re-send payments under new event ids
                for topic, env in events:
                    await ledger.publish(topic, env)
                    if topic == "payments.received.v1":
                        await ledger.publish(topic, env.model_copy(update={"event_id": uuid.uuid4()}))
            # every distinct event id delivered has been through the inbox
            distinct = len(events) + (n_payments if n == 0 else 0)

            async def settled():
                async with ledger_db(ledger) as raw:
                    done = await raw.fetchval("select (select count(*) from transactions where payment_id is not null)"
                                              " + (select count(*) from suspense)")
                    returns = await raw.fetchval("select count(*) from dd_returns")
                    seen = await raw.fetchval("select count(*) from inbox")
                return done == n_payments and returns == expected_returns and seen == distinct
            await poll(settled, 60)
            assert (await ledger.http.get("/v1/invariants")).json()["balanced"]
            results.append(await snapshot(ledger))
    assert results[0] == results[1]


def ledger_db(ledger):
    import contextlib

    from rentflow_common.db import UnitOfWork

    @contextlib.asynccontextmanager
    async def cm():
        async with UnitOfWork(ledger.engine) as uow:
            yield uow.raw
    return cm()
