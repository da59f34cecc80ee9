"""Outbox relay → real broker → batch consumer with inbox, on real PostgreSQL."""
from __future__ import annotations

import asyncio
import logging

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.outbox import enqueue
from rentflow_common.testing import payment_envelope as _envelope, envelope_row as outbox_row

TOPIC = "payments.received.v1"


async def _wait_for(predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return False


async def _wait_while_moving(predicate, progress, stall=60.0):
    """True once `predicate()` holds; False only after `progress()` (what the relay and consumer have
    done so far) stayed the same for `stall` seconds: a slow machine is waited for, a stuck one is not."""
    loop = asyncio.get_running_loop()
    last, since = await progress(), loop.time()
    while not await predicate():
        now = await progress()
        if now != last:
            last, since = now, loop.time()
        elif loop.time() - since > stall:
            return False
        await asyncio.sleep(0.1)
    return True


async def test_each_event_takes_effect_once_and_garbage_is_dead_lettered(infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (event_id uuid not null, amount int not null)",))
    engine = r.engine

    envelopes = [_envelope(i) for i in range(500)]
    duplicates = envelopes[:50]  # the same events again: must change nothing
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [outbox_row(TOPIC, e.data.provider_ref, e) for e in envelopes + duplicates])
        await uow.commit()

    garbage = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await garbage.start()
    await garbage.send_and_wait(topic_prefix + TOPIC, b'{"not": "an event"}', key=b"x")
    await garbage.stop()

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1, $2)",
                                  [(m.cause.event_id, m.data.amount_pence) for m in msgs])

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    relay = r.relay()
    relay_task = asyncio.create_task(relay.run())
    await broker.start()
    try:
        async def done():
            async with engine.connect() as c:
                n = (await c.execute(text("select count(*) from svc.seen"))).scalar_one()
            # the offsets are committed to the broker just after the transaction: waited for too
            return n >= 500 and consumer.stats.dead_letters == 1 and consumer.stats.last_commit_ok is not None

        assert await _wait_for(done), consumer.stats
        assert consumer.stats.last_commit_ok is not None and consumer.stats.commit_failures == 0  # offsets too
        await asyncio.sleep(0.5)  # give a wrong second delivery the chance to show
        async with engine.connect() as c:
            rows = (await c.execute(text("select count(*), count(distinct event_id), sum(amount) from svc.seen"))).one()
            assert tuple(rows) == (500, 500, sum(100 + i for i in range(500)))
            assert (await c.execute(text("select count(*) from svc.outbox"))).scalar_one() in (0, 1)
    finally:
        await broker.stop()
        relay.stop()
        await relay_task

    dlq = AIOKafkaConsumer(topic_prefix + "dlq.g", bootstrap_servers=infra.kafka_bootstrap_servers,
                           auto_offset_reset="earliest")
    await dlq.start()
    try:
        batch = await dlq.getmany(timeout_ms=5000)
        letters = [orjson.loads(r.value) for rs in batch.values() for r in rs]
    finally:
        await dlq.stop()
    assert len(letters) == 1
    assert letters[0]["topic"] == TOPIC and "undecodable" in letters[0]["reason"]


async def test_relay_keeps_per_key_order_on_the_default_partitioner(infra, database_url, topic_prefix, rig):
    """Record batches per partition must land each key where any Kafka client would put it
    (murmur2), in the order the rows were written."""
    from aiokafka.partitioner import DefaultPartitioner
    from aiokafka import TopicPartition

    r = await rig([TOPIC])
    engine = r.engine
    keys = [f"acct-{i % 7}" for i in range(700)]
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [outbox_row(TOPIC, k, _envelope(i)) for i, k in enumerate(keys)])
        await uow.commit()
    relay = r.relay(batch_size=300)
    while await relay.relay_once():
        pass
    await relay.close()

    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    tps = [TopicPartition(topic_prefix + TOPIC, p) for p in range(3)]
    consumer.assign(tps)
    seen: dict[str, list[tuple[int, int]]] = {}
    deadline = asyncio.get_running_loop().time() + 30
    while sum(len(v) for v in seen.values()) < len(keys) and asyncio.get_running_loop().time() < deadline:
        for tp, records in (await consumer.getmany(timeout_ms=500)).items():
            for r in records:
                amount = orjson.loads(r.value)["data"]["amount_pence"]
                seen.setdefault(r.key.decode(), []).append((tp.partition, amount))
    await consumer.stop()

    partitioner = DefaultPartitioner()
    assert sum(len(v) for v in seen.values()) == len(keys)
    for key, records in seen.items():
        assert {p for p, _ in records} == {partitioner(key.encode(), [0, 1, 2], [0, 1, 2])}, key
        amounts = [a for _, a in records]
        assert amounts == sorted(amounts), f"{key} out of order"


async def test_a_lost_topic_is_published_again_from_the_outbox_and_the_repeats_are_absorbed(
        infra, database_url, topic_prefix, rig):
    """The topic is deleted and recreated under a running relay and consumer (a memory broker
    restarted, a cluster rebuilt): the relay finds it lost, publishes its log again, and the consumer
    takes each event once — those it had, recognised by their stream numbers, and those it had not."""
    from aiokafka.admin import AIOKafkaAdminClient

    from rentflow_common.events import Emitter

    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (event_id uuid not null, amount int not null)",))
    engine = r.engine

    async def emit(first: int, n: int) -> None:
        batch = Emitter("test")
        for i in range(first, first + n):
            batch.emit(_envelope(i).data, cause=None)
        async with UnitOfWork(engine, producer="test") as uow:
            uow.emitted = batch.emitted
            await uow.commit()
        relay.wake()

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1, $2)",
                                  [(m.cause.event_id, m.data.amount_pence) for m in msgs])

    async def seen() -> tuple[int, int]:
        async with engine.connect() as c:
            return tuple((await c.execute(text("select count(*), count(distinct event_id) from svc.seen"))).one())

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix,
                             fetch_max_wait_ms=25)

    async def progress() -> tuple[object, ...]:
        return (await seen(), consumer.stats.messages, consumer.stats.duplicates, relay.published, relay.republished,
                sum(relay.topics_lost.values()))
    relay = r.relay(partitions=3, check_every_s=0.5)
    relay_task = asyncio.create_task(relay.run())
    await broker.start()
    try:
        await emit(0, 200)
        assert await _wait_while_moving(lambda: _eq(seen(), (200, 200)), progress), await progress()

        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics([topic_prefix + TOPIC])
        finally:
            await admin.close()
        await emit(200, 100)

        assert await _wait_while_moving(lambda: _eq(seen(), (300, 300)), progress), await progress()
        assert relay.topics_lost.get(TOPIC, 0) >= 1
        assert await _wait_while_moving(lambda: _true(relay.republished >= 200), progress), await progress()
        # Where the republished log lands against the consumer's position is timing (it may land
        # wholly below it); whatever of it the consumer read was absorbed: 300 handled, no more.
        assert consumer.stats.messages == 300, consumer.stats
        await asyncio.sleep(1.0)  # give a wrong second delivery the chance to show
        assert await seen() == (300, 300)
        async with engine.connect() as c:
            published, retained = (await c.execute(text(
                "select (select sum(published_seq) from svc.outbox_streams), (select count(*) from svc.outbox_log)"
            ))).one()
        assert (published, retained) == (300, 300)  # every event numbered once, published, and kept
    finally:
        await broker.stop()
        relay.stop()
        await relay_task


async def _eq(awaitable, want):
    return (await awaitable) == want


async def _true(value):
    return value


async def test_an_idle_relay_is_woken_by_a_commit_on_any_connection(infra, database_url, topic_prefix, rig):
    """The relay does not poll: with a 30 s idle wait and no topic checks due, a row committed by
    another connection (another process of the service) is published within a second, because
    the outbox's statement trigger NOTIFYs the relay's connection."""
    r = await rig([TOPIC])
    relay = r.relay(idle_wait_s=30.0, check_every_s=3600.0)
    relay_task = asyncio.create_task(relay.run())
    try:
        assert await _wait_for(lambda: _true(relay.leader), timeout=10)
        await asyncio.sleep(0.5)  # the relay has found nothing and sleeps
        other = make_engine(database_url, schema="svc")  # no wake-up call into this process's relay
        async with UnitOfWork(other) as uow:
            envelope = _envelope(1)
            await enqueue(uow.raw, [outbox_row(TOPIC, "k", envelope)])
            await uow.commit()
        await other.dispose()
        t0 = asyncio.get_running_loop().time()
        assert await _wait_for(lambda: _true(relay.published == 1), timeout=5)
        assert asyncio.get_running_loop().time() - t0 < 2.0
    finally:
        relay.stop()
        await relay_task
