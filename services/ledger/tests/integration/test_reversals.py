"""payments.reversed.v1: a returned payment (RRC) or a refund (REF) takes the receipt's money back
off the account it is on, with a balanced journal; a reversal that arrives before its payment waits
for it; an unallocated suspense item is closed; redelivery and over-reversal change nothing."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from ledger_support import CSV, UTC, payment, poll, running_ledger
from rentflow_common.consumer import dispatch
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, Msg
from rentflow_ledger.entrypoints.consumers import handlers
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.payments import PaymentReversed

ACCOUNTS = ("account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n"
            "50000005,Ann,1 A St,N,2026-04-06,10000,0\n"
            "60000006,Bob,2 A St,N,2026-04-06,10000,0\n")


def reversal(p, amount: int, kind: str = "returned", n: int = 1):
    d = p.data
    rid = derive_event_id("payment-reversal", d.provider_id, d.provider_ref, n)
    data = PaymentReversed(reversal_id=rid, payment_id=d.payment_id, provider_id=d.provider_id,
                           provider_ref=d.provider_ref, kind=kind, amount_pence=amount,
                           reversed_at=dt.datetime(2026, 5, 6, 9, tzinfo=UTC), reason="bank reversal",
                           received_at=dt.datetime(2026, 5, 6, 9, tzinfo=UTC))
    return new_envelope(data, event_type="payments.reversed", producer="payments", correlation_id="t",
                        event_id=derive_event_id("payments.reversed", rid))


async def test_reversals_and_refunds(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        ann = payment("50000005", 10000, "bank_transfer")
        bob = payment("60000006", 8000, "card")
        stray = payment("NOBODY", 700, "bank_transfer")
        # Ann's reversal comes before her payment: kept pending, applied when the payment is taken
        await ledger.publish("payments.reversed.v1", reversal(ann, 10000))

        async def statuses() -> list[str]:
            async with ledger.engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                return sorted(r[0] for r in await raw.fetch("select status from ledger.payment_reversals"))

        async def pending():
            return await statuses() == ["pending"]
        await poll(pending)
        await ledger.publish("payments.received.v1", ann, bob, stray)
        refund = reversal(bob, 3000, "refund")
        await ledger.publish("payments.reversed.v1", refund, refund, reversal(bob, 3000, "refund", n=2),
                             reversal(bob, 5000, "refund", n=3),  # beyond what is left: refused
                             reversal(stray, 700))

        async def settled():
            a, b = await ledger.account("50000005"), await ledger.account("60000006")
            suspense = (await ledger.http.get("/v1/suspense")).json()
            done = (a["balance_pence"] == 0 and [t["type"] for t in a["transactions"]] == ["RBP", "RRC"]
                    and b["balance_pence"] == -2000 and suspense["count"] == 0
                    and len([t for t in b["transactions"] if t["type"] == "REF"]) == 2)
            return done and (a, b)
        a, b = await poll(settled)
        rrc = [t for t in a["transactions"] if t["type"] == "RRC"]
        assert [(t["amount_pence"], t["business_date"]) for t in rrc] == [(10000, "2026-05-06")]
        assert [t["amount_pence"] for t in b["transactions"] if t["type"] == "REF"] == [3000, 3000]

        journals = [j["data"] for j in await ledger.read("gl.journals.v1", 8)]
        reversals = [j for j in journals if j["kind"] == "reversal"]
        assert len(reversals) == 4
        lines = {tuple(sorted((x["gl_code"], x["debit_pence"], x["credit_pence"]) for x in j["lines"]))
                 for j in reversals}
        assert lines == {(("BANK", 0, 10000), ("DEBTORS_CONTROL", 10000, 0)),
                         (("BANK", 0, 3000), ("DEBTORS_CONTROL", 3000, 0)),
                         (("BANK", 0, 700), ("SUSPENSE", 700, 0))}
        events = [e["data"] for e in await ledger.read("ledger.suspense.v1", 2)]
        assert [e["action"] for e in events] == ["opened", "reversed"]
        trail = (await ledger.http.get("/v1/audit")).json()["entries"]  # the ledger took it out on its own
        assert [(e["user"], e["subject"], e["after"]["status"], e["after"]["amount_pence"])
                for e in trail if e["action"] == "suspense.reversed"] == [
            ("system:ledger", events[1]["payment_id"], "reversed", 700)]
        inv = (await ledger.http.get("/v1/invariants")).json()
        assert inv["balanced"], inv
        recon = (await ledger.http.get("/v1/gl/reconcile", params={"period": "2026-05"})).json()
        assert recon["balanced"] and recon["suspense_pence"] == 0, recon
        assert await statuses() == ["posted", "posted", "posted", "refused", "suspense"]


async def _reversal_and_payment_at_once(infra, topic_prefix, reversal_first: bool) -> list[str]:
    """The reversal of a payment and the payment itself in two transactions at once (two ledger
    members): the first runs its handler and holds its transaction open while the second runs; the
    first commits once the second has finished or is seen waiting for a lock."""
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        ann = payment("50000005", 10000, "bank_transfer")
        by_topic = handlers(None)
        steps = [("payments.reversed.v1", reversal(ann, 10000)), ("payments.received.v1", ann)]
        if not reversal_first:
            steps.reverse()

        async def run(topic: str, env: Any, ran: asyncio.Event, release: asyncio.Event) -> None:
            async with UnitOfWork(ledger.engine, producer="ledger") as uow:
                msg = Msg(env.data, Cause(env.event_id, env.correlation_id), env.occurred_at)
                await by_topic[topic](uow, [msg])
                ran.set()
                await release.wait()
                await uow.commit()

        first_ran, first_release, second_ran, go = (asyncio.Event() for _ in range(4))
        go.set()
        first = asyncio.create_task(run(*steps[0], first_ran, first_release))
        await first_ran.wait()
        second = asyncio.create_task(run(*steps[1], second_ran, go))
        await poll(lambda: _done_or_waiting(second, ledger.engine), timeout=10)
        first_release.set()
        await asyncio.gather(first, second)
        async with ledger.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            return [r[0] for r in await raw.fetch("select status from ledger.payment_reversals")]


async def _done_or_waiting(task: asyncio.Task, engine: Any) -> bool:
    """The task has finished, or some transaction waits for a lock."""
    if task.done():
        return True
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        return await raw.fetchval("select exists (select from pg_locks where not granted)")


async def test_a_reversal_and_its_payment_taken_at_once_by_two_members(infra, service_env, topic_prefix):
    """Whichever comes first, the reversal is posted: neither transaction misses the other's
    uncommitted work (the payments batch and new reversals lock payment_reversals against each other)."""
    assert await _reversal_and_payment_at_once(infra, topic_prefix, reversal_first=True) == ["posted"]


async def test_a_payment_and_its_reversal_taken_at_once_by_two_members(infra, service_env, topic_prefix):
    assert await _reversal_and_payment_at_once(infra, topic_prefix, reversal_first=False) == ["posted"]


async def test_a_payments_batch_and_a_reversal_on_the_same_account_do_not_deadlock(infra, service_env, topic_prefix,
                                                                                  monkeypatch):
    """A payments batch locks its accounts; a new reversal of an earlier payment on one of them comes
    at that moment (another member). Both lock payment_reversals before any account row, so the
    reversal waits for the batch, and neither is broken by PostgreSQL's deadlock detector."""
    from rentflow_ledger.adapters.sql import SqlReversals

    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        by_topic = handlers(None)
        earlier, later = payment("50000005", 10000, "bank_transfer"), payment("50000005", 2500, "bank_transfer")

        async def run(topic: str, env: Any) -> None:
            async with UnitOfWork(ledger.engine, producer="ledger") as uow:
                await by_topic[topic](uow, [Msg(env.data, Cause(env.event_id, env.correlation_id), env.occurred_at)])
                await uow.commit()

        await run("payments.received.v1", earlier)
        accounts_locked, release = asyncio.Event(), asyncio.Event()
        lock_pending = SqlReversals.lock_pending

        async def after_the_accounts(self: Any, payment_ids: Any) -> Any:  # the batch has its accounts locked
            accounts_locked.set()
            await release.wait()
            return await lock_pending(self, payment_ids)

        monkeypatch.setattr(SqlReversals, "lock_pending", after_the_accounts)
        batch = asyncio.create_task(run("payments.received.v1", later))
        await accounts_locked.wait()
        reversal_task = asyncio.create_task(run("payments.reversed.v1", reversal(earlier, 10000)))

        await poll(lambda: _done_or_waiting(reversal_task, ledger.engine), timeout=10)
        release.set()
        await asyncio.gather(batch, reversal_task)  # a broken transaction raises here (deadlock detected)
        async with ledger.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert [r[0] for r in await raw.fetch("select status from ledger.payment_reversals")] == ["posted"]
            assert await raw.fetchval("select balance_pence from ledger.accounts where account_ref = '50000005'") \
                == -2500


async def test_two_members_taking_payments_then_new_reversals_at_once_do_not_deadlock(infra, service_env, topic_prefix,
                                                                                     monkeypatch):
    """Two ledger members each handle a merged batch at once: a payment, then a new reversal of an
    earlier payment, on accounts of their own. Each reaches its reversal while the other is in its
    transaction: neither is broken by PostgreSQL's deadlock detector (as when both held the payments'
    lock on payment_reversals and waited for the reversals' one)."""
    from rentflow_ledger.adapters.sql import SqlReversals

    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        by_topic = handlers(None)

        def msg(env: Any) -> Msg[Any]:
            return Msg(env.data, Cause(env.event_id, env.correlation_id), env.occurred_at)

        async def member(batch: list[tuple[str, Any]]) -> None:
            async with UnitOfWork(ledger.engine, producer="ledger") as uow:
                await dispatch(by_topic, uow, [(topic, msg(env)) for topic, env in batch])
                await uow.commit()

        earlier = {ref: payment(ref, 10000, "bank_transfer") for ref in ("50000005", "60000006")}
        await member([("payments.received.v1", p) for p in earlier.values()])
        at_reversals, release = [], asyncio.Event()
        seen = SqlReversals.seen

        async def at_the_reversals(self: Any, reversal_ids: Any) -> Any:  # the member's payments are taken
            at_reversals.append(reversal_ids)
            await release.wait()
            return await seen(self, reversal_ids)

        monkeypatch.setattr(SqlReversals, "seen", at_the_reversals)
        members = [asyncio.create_task(member([("payments.received.v1", payment(ref, 2500, "bank_transfer")),
                                               ("payments.reversed.v1", reversal(p, 10000))]))
                   for ref, p in earlier.items()]

        async def both_there_or_one_waiting() -> bool:
            return len(at_reversals) == 2 or await _done_or_waiting(members[1], ledger.engine)
        await poll(both_there_or_one_waiting, timeout=10)
        release.set()
        await asyncio.gather(*members)  # a broken transaction raises here (deadlock detected)
        async with ledger.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert [r[0] for r in await raw.fetch("select status from ledger.payment_reversals")] == ["posted"] * 2
            assert [r[0] for r in await raw.fetch("select balance_pence from ledger.accounts order by account_ref")] \
                == [-2500, -2500]


async def test_reversals_waiting_for_one_payment_are_applied_in_the_order_they_came(infra, service_env, topic_prefix):
    """Three refunds of Bob's payment come, in one transaction, before the payment: they wait pending
    with one created_at, and are applied in the order they came, so the one beyond what is left (the
    last) is refused, whatever their ids."""
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        bob = payment("60000006", 8000, "card", "bob-refunds-6")  # a reference whose third refund's id sorts first
        refunds = [reversal(bob, 3000, "refund", n=1), reversal(bob, 3000, "refund", n=2),
                   reversal(bob, 5000, "refund", n=3)]
        by_topic = handlers(None)

        async def run(topic: str, envs: list[Any]) -> None:
            async with UnitOfWork(ledger.engine, producer="ledger") as uow:
                await by_topic[topic](uow, [Msg(e.data, Cause(e.event_id, e.correlation_id), e.occurred_at)
                                            for e in envs])
                await uow.commit()

        await run("payments.reversed.v1", refunds)
        await run("payments.received.v1", [bob])
        async with ledger.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            got = {r[0]: (r[1], r[2]) for r in await raw.fetch(
                "select reversal_id, amount_pence, status from ledger.payment_reversals")}
        assert [got[r.data.reversal_id] for r in refunds] == [(3000, "posted"), (3000, "posted"), (5000, "refused")]
