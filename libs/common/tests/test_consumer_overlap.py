"""A batch of `overlap` topics is written while the batch before it commits: its handlers run beside that
transaction, it commits only after it, and records its progress only where the rows still hold what it
started from. On real PostgreSQL and the broker: every message's effect exactly once, whatever the batch
before did."""
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
from rentflow_common.progress import SeqSet, StreamKey, save_progress_if
from rentflow_common.testing import drain, envelope_row, poll
from rentflow_schemas import new_envelope
from rentflow_schemas.payments import PaymentReceived

TOPIC = "payments.received.v1"
NOW = dt.datetime(2026, 4, 6, 9, tzinfo=dt.timezone.utc)
MESSAGES = 600

# a row of `slow` makes its transaction's COMMIT wait (the deferred trigger runs at commit), and fail if it says so
SLOW_COMMIT = (
    "create table slow (fail boolean not null)",
    """create function slow_commit() returns trigger language plpgsql as $$
       begin perform pg_sleep(0.5); if new.fail then raise exception 'the commit fails'; end if; return null; end $$""",
    "create constraint trigger slow_commit after insert on slow deferrable initially deferred "
    "for each row execute function slow_commit()",
)


def envelope(ref: str):
    data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=ref, channel="card",
                           amount_pence=100, paid_at=NOW, received_at=NOW, reference="K")
    return new_envelope(data, event_type="payments.received", event_id=uuid.uuid4(), producer="test",
                        correlation_id="c")


async def published(r, refs: list[str]) -> None:
    """The messages on the topic before the consumer starts: its fetches queue up behind the first batch."""
    for start in range(0, len(refs), 100):
        async with UnitOfWork(r.engine) as uow:
            await enqueue(uow.raw, [envelope_row(TOPIC, f"K{n % 7}", envelope(ref))
                                    for n, ref in enumerate(refs[start:start + 100], start)])
            await uow.commit()
    await drain(r.relay())


async def consume_all(r, infra, topic_prefix, handle, refs: list[str], **options) -> BatchConsumer:
    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, r.engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix,
                             max_records=50, max_merged=100, overlap={TOPIC}, **{"overlap_min": 1, **options})
    await broker.start()
    try:
        async def all_seen() -> bool:
            return len(await seen(r.engine)) >= len(refs)
        await poll(all_seen, timeout=90, what="every message written")
        await asyncio.sleep(0.5)  # nothing more arrives
        await consumer.drain()
    finally:
        await broker.stop()
        await consumer.close()
    return consumer


def recording(*, slow: int, fails: bool = False):
    """A handler recording each message's ref (a second time fails its primary key), whose first `slow`
    transactions' commits wait, and fail if `fails` (their next attempts are not slowed)."""
    slowed: list[int] = []

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen (ref) values ($1)", [(m.data.provider_ref,) for m in msgs])
        if len(slowed) < slow:
            slowed.append(len(msgs))
            await uow.raw.execute("insert into slow values ($1)", fails)
    return handle


async def seen(engine) -> list[str]:
    async with engine.connect() as c:
        return [row.ref for row in (await c.execute(text("select ref from svc.seen order by ref"))).all()]


async def test_batches_written_while_the_one_before_commits_take_each_message_once(infra, topic_prefix, rig):
    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (ref text primary key)", *SLOW_COMMIT))
    refs = [f"p{n:04d}" for n in range(MESSAGES)]
    await published(r, refs)
    # a few slow commits, whatever the batches' timing: the next is worked meanwhile
    consumer = await consume_all(r, infra, topic_prefix, recording(slow=3), refs)
    assert await seen(r.engine) == refs  # each once: a second insert of a ref fails its primary key
    assert consumer.stats.overlapped >= 3, consumer.stats
    assert (consumer.stats.messages, consumer.stats.dead_letters) == (MESSAGES, 0)
    async with r.engine.connect() as c:
        ranges = (await c.execute(text("select ranges from svc.consumer_progress where group_id = 'g'"))).scalars().all()
    assert sum(SeqSet(flat).highs[-1] - SeqSet(flat).lows[0] for flat in ranges) == MESSAGES
    assert all(len(flat) == 2 for flat in ranges)  # one range a stream: nothing missing


async def test_batches_smaller_than_a_backlog_are_not_overlapped(infra, topic_prefix, rig):
    """A trickle's batches gain nothing by overlapping, and their work would hold up the commit before them."""
    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (ref text primary key)", *SLOW_COMMIT))
    refs = [f"p{n:04d}" for n in range(300)]
    await published(r, refs)
    consumer = await consume_all(r, infra, topic_prefix, recording(slow=3), refs, overlap_min=101)  # batches: ≤ 100
    assert await seen(r.engine) == refs
    assert (consumer.stats.overlapped, consumer.stats.overlap_given_up, consumer.stats.messages) == (0, 0, 300)


async def test_a_batch_worked_beside_one_whose_commit_fails_is_rolled_back_and_written_after_it(infra, topic_prefix,
                                                                                             rig):
    r = await rig([TOPIC, "dlq.g"], tables=("create table seen (ref text primary key)", *SLOW_COMMIT))
    refs = [f"p{n:04d}" for n in range(MESSAGES)]
    await published(r, refs)
    # the first batch's first commit waits, then fails: the batch after it was started by then
    consumer = await consume_all(r, infra, topic_prefix, recording(slow=1, fails=True), refs)
    assert await seen(r.engine) == refs
    assert consumer.stats.overlap_given_up >= 1, consumer.stats
    assert (consumer.stats.messages, consumer.stats.dead_letters) == (MESSAGES, 0)


async def test_progress_is_saved_only_where_the_rows_still_hold_what_the_batch_started_from(database_url, rig):
    r = await rig([TOPIC])
    conn = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "svc"})
    epoch = str(uuid.uuid4())
    a, b = StreamKey(TOPIC, epoch, 0), StreamKey(TOPIC, epoch, 1)
    try:
        await conn.execute("insert into consumer_progress (group_id, topic, epoch, stream, ranges) values "
                           "('g', $1, $2, 0, '{1,11}'), ('g', $1, $2, 1, '{1,5}')", TOPIC, epoch)
        moved = conn.transaction()  # stream 1 moved on by another member since: the caller rolls back
        await moved.start()
        assert not await save_progress_if(conn, "g", {a: SeqSet([1, 21]), b: SeqSet([1, 9])}, {a: [1, 11], b: [1, 3]})
        await moved.rollback()
        rows = dict(await conn.fetch("select stream, ranges from consumer_progress where group_id = 'g'"))
        assert rows == {0: [1, 11], 1: [1, 5]}
        assert await save_progress_if(conn, "g", {a: SeqSet([1, 21]), b: SeqSet([1, 9])}, {a: [1, 11], b: [1, 5]})
        rows = dict(await conn.fetch("select stream, ranges from consumer_progress where group_id = 'g'"))
        assert rows == {0: [1, 21], 1: [1, 9]}
    finally:
        await conn.close()
