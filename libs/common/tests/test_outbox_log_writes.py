"""Events written straight into the outbox log, numbered by the transaction that writes them, on
real PostgreSQL (and the broker for the relay): per-stream gapless order in write order, a later
number never committing before an earlier one, an event id numbered once, rows of the old outbox
table numbered at upgrade, and a relay that dies between the broker taking a batch and recording
it publishing the same numbers again, absorbed by the consumer."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

import asyncpg
from aiokafka.partitioner import murmur2
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork, make_engine, plain_url
from rentflow_common.kafka import ensure_topics
from rentflow_common.outbox import OUTBOX_DDL, OutboxRelay, TABLES_DDL, enqueue, make_producer, migrate_legacy_outbox
from rentflow_common.testing import create_core_tables, envelope_row
from rentflow_schemas import new_envelope
from rentflow_schemas.payments import PaymentReceived

TOPIC = "payments.received.v1"
NOW = dt.datetime(2026, 4, 6, 9, tzinfo=dt.timezone.utc)


def _envelope(i: int, event_id: uuid.UUID | None = None):
    data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"r{i}", channel="card",
                           amount_pence=100 + i, paid_at=NOW, received_at=NOW, reference=f"REF{i}")
    return new_envelope(data, event_type="payments.received", event_id=event_id or uuid.uuid4(),
                        producer="test", correlation_id="c")


async def _engine(database_url: str):
    engine = make_engine(database_url, schema="svc")
    async with engine.begin() as conn:
        await create_core_tables(conn, "svc")
    return engine


async def _log(engine) -> list[tuple[str, int, int, str, int]]:
    """(topic, stream, seq, key, amount) of every row of the log, in number order."""
    async with engine.connect() as c:
        rows = (await c.execute(text(
            "select topic, stream, seq, convert_from(key, 'utf8'), "
            "(convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')::int "
            "from svc.outbox_log order by topic, stream, seq"))).all()
    return [tuple(r) for r in rows]


async def test_rows_are_numbered_gapless_per_stream_in_the_order_written(database_url):
    engine = await _engine(database_url)
    keys = [f"acct-{i % 7}" for i in range(300)]
    for part in range(3):  # three transactions, one after the other
        async with UnitOfWork(engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, keys[i], _envelope(i)) for i in range(part * 100, part * 100 + 100)])
            await uow.commit()
    log = await _log(engine)
    await engine.dispose()

    assert len(log) == 300
    streams: dict[int, list[int]] = {}
    for topic, stream, seq, key, _amount in log:
        assert stream == (murmur2(key.encode()) & 0x7FFFFFFF) % 6, key  # the key's stream, fixed at write
        streams.setdefault(stream, []).append(seq)
    for stream, seqs in streams.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"stream {stream} not gapless: {seqs[:10]}"
    per_key: dict[str, list[int]] = {}
    for _t, _s, _seq, key, amount in log:
        per_key.setdefault(key, []).append(amount)
    for key, amounts in per_key.items():
        assert amounts == sorted(amounts), f"{key} numbered out of the order written"


async def test_a_later_number_never_commits_before_an_earlier_one_and_a_rollback_leaves_no_gap(database_url):
    """Two writers on one stream: the second waits for the first to end; a writer that rolls back
    gives its numbers back."""
    engine = await _engine(database_url)
    first = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "svc"})
    second = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "svc"})
    try:
        tx1 = first.transaction()
        await tx1.start()
        await enqueue(first, [envelope_row(TOPIC, "acct-1", _envelope(1))])
        tx2 = second.transaction()
        await tx2.start()
        waiting = asyncio.create_task(enqueue(second, [envelope_row(TOPIC, "acct-1", _envelope(2))]))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second writer took a number while the first still held the stream"
        await tx1.rollback()  # the first gives up: its number 1 is free again
        await asyncio.wait_for(waiting, 10)
        await tx2.commit()

        async with UnitOfWork(engine) as uow:  # and a third, after both
            await enqueue(uow.raw, [envelope_row(TOPIC, "acct-1", _envelope(3))])
            await uow.commit()
    finally:
        await first.close()
        await second.close()
    log = await _log(engine)
    await engine.dispose()
    assert [(seq, amount) for _t, _s, seq, _k, amount in log] == [(1, 102), (2, 103)]


async def test_an_event_written_twice_is_numbered_once(database_url):
    """The same event id twice in one write, again in a later transaction, and at the same time in
    a transaction that waits for the first: one row, and no number skipped."""
    engine = await _engine(database_url)
    again = _envelope(1)
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, "k", again), envelope_row(TOPIC, "k", again),
                                envelope_row(TOPIC, "k", _envelope(2))])
        await uow.commit()
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, "k", again), envelope_row(TOPIC, "k", _envelope(3))])
        await uow.commit()

    racing = _envelope(4)
    a = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "svc"})
    b = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "svc"})
    try:
        ta, tb = a.transaction(), b.transaction()
        await ta.start()
        await tb.start()
        await enqueue(a, [envelope_row(TOPIC, "k", racing)])
        later = asyncio.create_task(enqueue(b, [envelope_row(TOPIC, "k", racing), envelope_row(TOPIC, "k", _envelope(5))]))
        await asyncio.sleep(0.3)
        await ta.commit()
        await asyncio.wait_for(later, 10)  # no unique violation: left out once the first committed
        await tb.commit()
    finally:
        await a.close()
        await b.close()
    log = await _log(engine)
    await engine.dispose()
    assert [(seq, amount) for _t, _s, seq, _k, amount in log] == [(1, 101), (2, 102), (3, 103), (4, 104), (5, 105)]


async def test_rows_waiting_in_the_old_outbox_table_are_numbered_at_upgrade_in_their_order(database_url):
    engine = make_engine(database_url, schema="svc")
    async with engine.begin() as conn:
        await conn.execute(text('create schema if not exists "svc"'))
        await conn.execute(text('set search_path to "svc"'))
        await conn.execute(text(OUTBOX_DDL))  # the outbox as the previous version left it, with rows waiting
        await conn.execute(text("alter table outbox add column if not exists event_id uuid"))
        raw = (await conn.get_raw_connection()).driver_connection
        old = [_envelope(i) for i in range(20)]
        await raw.copy_records_to_table("outbox", columns=["topic", "key", "payload", "headers", "event_id"], records=[
            (TOPIC, f"acct-{i % 3}".encode(), e.model_dump_json().encode(), "{}", e.event_id)
            for i, e in enumerate(old + old[:2])])  # two of them emitted twice
    async with engine.begin() as conn:
        await conn.execute(text('set search_path to "svc"'))
        for ddl in TABLES_DDL:
            await conn.execute(text(ddl))
        moved = await conn.run_sync(migrate_legacy_outbox)
    assert moved == 22
    async with UnitOfWork(engine) as uow:  # the new version writes after them
        await enqueue(uow.raw, [envelope_row(TOPIC, "acct-0", _envelope(99))])
        await uow.commit()
    async with engine.connect() as c:
        waiting = (await c.execute(text("select count(*) from svc.outbox"))).scalar_one()
        legacy = (await c.execute(text("select count(*) from svc.outbox_legacy"))).scalar_one()
    log = await _log(engine)
    await engine.dispose()
    assert (waiting, legacy, len(log)) == (21, 0, 21)  # `outbox` is now what is not yet published
    per_key: dict[str, list[int]] = {}
    for _t, _s, _seq, key, amount in log:
        per_key.setdefault(key, []).append(amount)
    assert per_key["acct-0"][-1] == 199 and all(a == sorted(a) for a in per_key.values())


class _DiesAfterSending(OutboxRelay):
    """A relay whose process dies after the broker took its batches but before it recorded them."""

    async def _record(self, raw, deliveries):
        raise ConnectionError("the relay died here")


async def test_a_relay_that_dies_between_sending_and_recording_publishes_the_same_numbers_again(
        infra, database_url, topic_prefix):
    engine = await _engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("create table svc.seen (event_id uuid not null)"))
    await ensure_topics(infra.kafka_bootstrap_servers, 6, [TOPIC, "dlq.g"], prefix=topic_prefix)
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, f"acct-{i % 9}", _envelope(i)) for i in range(120)])
        await uow.commit()

    producer = make_producer(infra.kafka_bootstrap_servers, "test")
    await producer.start()
    dying = _DiesAfterSending(engine, producer, bootstrap_servers=infra.kafka_bootstrap_servers,
                              topic_prefix=topic_prefix)
    try:
        await dying.relay_once()
        raise AssertionError("the relay was meant to die")
    except ConnectionError:
        pass
    await dying.close()
    relay = OutboxRelay(engine, producer, bootstrap_servers=infra.kafka_bootstrap_servers, topic_prefix=topic_prefix)
    while await relay.relay_once():
        pass
    await relay.close()
    await producer.stop()

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1)", [(m.cause.event_id,) for m in msgs])

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    await broker.start()
    try:
        deadline = asyncio.get_running_loop().time() + 60
        while consumer.stats.messages < 240 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    async with engine.connect() as c:
        seen = tuple((await c.execute(text("select count(*), count(distinct event_id) from svc.seen"))).one())
        unpublished = (await c.execute(text("select count(*) from svc.outbox"))).scalar_one()
    await engine.dispose()
    assert relay.published == 120 and relay.republished == 0  # the first relay recorded nothing
    assert seen == (120, 120), consumer.stats  # each event once, though the broker holds each twice
    assert (consumer.stats.messages, consumer.stats.duplicates) == (240, 120)  # delivered twice, taken once
    assert unpublished == 0
