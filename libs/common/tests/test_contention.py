"""Two writers locking the same rows in opposite orders: PostgreSQL breaks the deadlock by failing
one transaction. When that is the consumer's, its batch is written again at once — no attempt is
counted against the messages, none is dead-lettered, each is handled once."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

import asyncpg
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork, plain_url
from rentflow_common.outbox import enqueue
from rentflow_common.testing import envelope_row, poll
from rentflow_schemas import new_envelope
from rentflow_schemas.payments import PaymentReceived

TOPIC = "payments.received.v1"
NOW = dt.datetime(2026, 4, 6, 9, tzinfo=dt.timezone.utc)
DEADLOCKS = 6  # more than the 3 attempts of the batch and then of each message


def envelope(ref: str):
    data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=ref, channel="card",
                           amount_pence=100, paid_at=NOW, received_at=NOW, reference="K")
    return new_envelope(data, event_type="payments.received", event_id=uuid.uuid4(), producer="test",
                        correlation_id="c")


async def test_a_batch_failed_by_a_deadlock_is_written_again_and_never_dead_lettered(infra, database_url,
                                                                                     topic_prefix, rig):
    r = await rig([TOPIC, "dlq.g"], tables=("create table acct (ref text primary key, n int not null)",
                                            "insert into acct values ('a', 0), ('b', 0)",
                                            "create table seen (ref text not null)"))
    engine = r.engine
    deadlocks = {"left": DEADLOCKS, "other": None}

    async def other_writer(locked_b: asyncio.Event) -> None:
        """Locks b, then a (the handler holds a, then wants b)."""
        conn = await asyncpg.connect(plain_url(database_url))
        try:
            async with conn.transaction():
                await conn.execute("set local deadlock_timeout = '10s'")  # the handler's side detects it first
                await conn.execute("update svc.acct set n = n + 1 where ref = 'b'")
                locked_b.set()
                await conn.execute("update svc.acct set n = n + 1 where ref = 'a'")
        finally:
            await conn.close()

    async def handle(uow, msgs):
        if deadlocks["other"] is not None:
            await deadlocks["other"]  # the last one's writer committed once this transaction gave way
        await uow.raw.execute("update acct set n = n + 1 where ref = 'a'")
        if deadlocks["left"] > 0:
            deadlocks["left"] -= 1
            await uow.raw.execute("set local deadlock_timeout = '50ms'")
            locked_b = asyncio.Event()
            deadlocks["other"] = asyncio.create_task(other_writer(locked_b))
            await locked_b.wait()
            await uow.raw.execute("update acct set n = n + 1 where ref = 'b'")  # PostgreSQL fails this one
        await uow.raw.executemany("insert into seen (ref) values ($1)", [(m.data.provider_ref,) for m in msgs])

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    relay = r.relay()
    relay_task = asyncio.create_task(relay.run())
    await broker.start()

    async def seen() -> list[str]:
        async with engine.connect() as c:
            return sorted(r.ref for r in (await c.execute(text("select ref from svc.seen"))).all())

    try:
        async with UnitOfWork(engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, "K", envelope(ref)) for ref in ("p1", "p2")])
            await uow.commit()

        async def both() -> bool:
            return len(await seen()) >= 2
        await poll(both, timeout=60, what="both payments written")
        await asyncio.sleep(0.5)  # nothing more arrives
        assert await seen() == ["p1", "p2"]
        assert (deadlocks["left"], consumer.stats.contended, consumer.stats.dead_letters) == (0, DEADLOCKS, 0)
        async with engine.connect() as c:
            assert (await c.execute(text("select count(*) from svc.dead_letters"))).scalar_one() == 0
            # every other writer committed: a once per deadlock, plus the handler's last transaction
            assert (await c.execute(text("select n from svc.acct where ref = 'a'"))).scalar_one() >= DEADLOCKS + 1
    finally:
        await broker.stop()
        relay.stop()
        await relay_task
