"""What the batch consumer costs per fetch outside its own work."""
from __future__ import annotations

import asyncio
import logging

import fast_depends.utils
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork
from rentflow_common.outbox import enqueue
from rentflow_common.testing import envelope_row, payment_envelope

TOPIC = "payments.received.v1"


async def test_a_fetch_reaches_the_consumer_without_a_worker_thread(infra, topic_prefix, rig, monkeypatch):
    """FastStream hands each fetch over on the event loop: no function of the handler's call is run in
    a worker thread (a thread hop per fetch cost ~65 µs of CPU and its wait)."""
    r = await rig([TOPIC], tables=("create table seen (event_id uuid not null)",))
    to_thread = fast_depends.utils.run_in_threadpool
    in_threads: list[object] = []

    async def counted(func, *args, **kwargs):
        in_threads.append(func)
        return await to_thread(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counted)
    async with UnitOfWork(r.engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, e.data.provider_ref, e) for e in map(payment_envelope, range(30))])
        await uow.commit()

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1)", [(m.cause.event_id,) for m in msgs])

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.WARNING)
    consumer = BatchConsumer(broker, r.engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    relay = r.relay()
    relay_task = asyncio.create_task(relay.run())
    await broker.start()
    try:
        for _ in range(300):
            if consumer.stats.last_commit_ok is not None:
                break
            await asyncio.sleep(0.1)
        async with r.engine.connect() as c:
            assert (await c.execute(text("select count(*) from svc.seen"))).scalar_one() == 30
    finally:
        await broker.stop()
        relay.stop()
        await relay_task
    assert in_threads == []


async def test_the_next_batch_is_written_while_the_offsets_of_the_last_are_committed(infra, topic_prefix, rig):
    """The offset commit (a broker round trip) is not on the path: a batch is written while the commit
    before it is still in flight; commits still go in order, and drain waits for the last one."""
    r = await rig([TOPIC], tables=("create table seen (event_id uuid not null)",))
    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.WARNING)
    written: list[int] = []

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1)", [(m.cause.event_id,) for m in msgs])
        written.append(len(msgs))

    consumer = BatchConsumer(broker, r.engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix)
    first_commit_held, release = asyncio.Event(), asyncio.Event()
    commits: list[dict] = []
    commit = consumer._commit

    async def held_commit(kafka_consumer, offsets):
        commits.append(dict(offsets))
        if len(commits) == 1:
            first_commit_held.set()
            await release.wait()
        await commit(kafka_consumer, offsets)

    consumer._commit = held_commit
    relay = r.relay()
    relay_task = asyncio.create_task(relay.run())
    await broker.start()
    try:
        async with UnitOfWork(r.engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, "k", payment_envelope(0))])
            await uow.commit()
        await asyncio.wait_for(first_commit_held.wait(), 30)
        async with UnitOfWork(r.engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, "k", payment_envelope(1))])
            await uow.commit()
        for _ in range(300):  # the second batch is written with the first commit still held
            if sum(written) == 2:
                break
            await asyncio.sleep(0.1)
        assert sum(written) == 2 and len(commits) == 1
        release.set()
        await consumer.drain()
        assert len(commits) == 2 and consumer.stats.last_commit_ok is not None
        [(tp, first)], [(tp2, second)] = commits[0].items(), commits[1].items()
        assert tp == tp2 and second > first
    finally:
        release.set()
        await broker.stop()
        relay.stop()
        await relay_task
