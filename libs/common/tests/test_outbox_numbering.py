"""The relay's numbering and its crash window, on real PostgreSQL and the broker: each stream of
the log is numbered gapless in the order rows were written, an event id written twice is numbered
once, and a relay that dies after the broker took a batch but before recording it publishes the
same numbers again, which the consumer absorbs."""
from __future__ import annotations

import asyncio
import logging

from aiokafka.partitioner import murmur2
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork
from rentflow_common.outbox import enqueue
from rentflow_common.testing import payment_envelope as _envelope, envelope_row, relay_dies_before_recording

TOPIC = "payments.received.v1"


async def test_each_stream_is_numbered_gapless_in_write_order_and_an_event_id_once(
        infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC])
    engine = r.engine
    keys = [f"acct-{i % 7}" for i in range(300)]
    envelopes = [_envelope(i) for i in range(300)]
    for part in range(3):  # three transactions, one after the other; the third repeats ten events of the first
        rows = [envelope_row(TOPIC, keys[i], envelopes[i]) for i in range(part * 100, part * 100 + 100)]
        if part == 2:
            rows += [envelope_row(TOPIC, keys[i], envelopes[i]) for i in range(10)]
        async with UnitOfWork(engine) as uow:
            await enqueue(uow.raw, rows)
            await uow.commit()
    relay = r.relay(batch_size=70)  # several claims, each cutting across the writes
    while await relay.relay_once():
        pass
    await relay.close()
    async with engine.connect() as c:
        log = (await c.execute(text(
            "select stream, seq, convert_from(key, 'utf8'), "
            "(convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')::int "
            "from svc.outbox_log where topic = :t order by stream, seq"), {"t": TOPIC})).all()
        unpublished = (await c.execute(text("select count(*) from svc.outbox"))).scalar_one()

    assert (len(log), relay.duplicates_dropped, relay.published, unpublished) == (300, 10, 300, 0)
    streams: dict[int, list[int]] = {}
    per_key: dict[str, list[int]] = {}
    for stream, seq, key, amount in log:
        assert stream == (murmur2(key.encode()) & 0x7FFFFFFF) % 3, key  # the key's partition
        streams.setdefault(stream, []).append(seq)
        per_key.setdefault(key, []).append(amount)
    for stream, seqs in streams.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"stream {stream} not gapless"
    for key, amounts in per_key.items():
        assert amounts == sorted(amounts), f"{key} numbered out of the order written"


async def test_a_relay_that_dies_between_sending_and_recording_publishes_the_same_numbers_again(
        infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC, "dlq.g"], tables=("create table svc.seen (event_id uuid not null)",))
    engine = r.engine
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, f"acct-{i % 9}", _envelope(i)) for i in range(120)])
        await uow.commit()

    await relay_dies_before_recording(engine, r.producer, bootstrap_servers=infra.kafka_bootstrap_servers,
                                      topic_prefix=topic_prefix)
    relay = r.relay()
    while await relay.relay_once():
        pass
    await relay.close()

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
        log_rows = (await c.execute(text("select count(*) from svc.outbox_log"))).scalar_one()
    assert (relay.published, log_rows) == (120, 120)  # the second relay sent the same 120 numbered rows
    assert seen == (120, 120), consumer.stats  # each event once, though the broker holds each twice
    assert (consumer.stats.messages, consumer.stats.duplicates) == (240, 120)
