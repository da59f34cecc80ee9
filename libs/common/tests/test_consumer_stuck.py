"""A consumer whose batch in hand is not being written, with nothing failing, is stuck (`stuck_for`,
which /health and the watchdog go by; test_status_groups.py covers both on members' state). Here on a
real broker and PostgreSQL, with a handler held mid-batch."""
from __future__ import annotations

import asyncio
import logging
import time

from faststream.kafka import KafkaBroker

from rentflow_common import service
from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork
from rentflow_common.outbox import enqueue
from rentflow_common.testing import envelope_row, payment_envelope

TOPIC = "payments.received.v1"


async def test_a_batch_held_unwritten_makes_its_consumer_stuck_until_it_is_written(infra, topic_prefix, rig,
                                                                                   monkeypatch):
    monkeypatch.setattr(service, "STUCK_AFTER_S", 1.0)
    r = await rig([TOPIC], tables=("create table seen (event_id uuid not null)",))
    async with UnitOfWork(r.engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, e.data.provider_ref, e) for e in map(payment_envelope, range(5))])
        await uow.commit()
    taken, release = asyncio.Event(), asyncio.Event()

    async def handle(uow, msgs):
        taken.set()
        await release.wait()  # as a write that never returns and never fails would
        await uow.raw.executemany("insert into seen values ($1)", [(m.cause.event_id,) for m in msgs])

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.WARNING)
    consumer = BatchConsumer(broker, r.engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    relay = r.relay()
    relay_task = asyncio.create_task(relay.run())
    await broker.start()
    try:
        await asyncio.wait_for(taken.wait(), 30)
        assert service.stuck_for(consumer, time.monotonic()) is None  # just taken
        await asyncio.sleep(1.5)
        stuck = service.stuck_for(consumer, time.monotonic())
        assert stuck is not None and 1.0 < stuck < 10
        assert service.stuck_past([consumer], time.monotonic(), 1.2)[0] is consumer
        release.set()
        for _ in range(100):
            if consumer.stats.messages == 5:
                break
            await asyncio.sleep(0.1)
        assert consumer.stats.messages == 5 and service.stuck_for(consumer, time.monotonic()) is None
    finally:
        release.set()
        await broker.stop()
        relay.stop()
        await relay_task
