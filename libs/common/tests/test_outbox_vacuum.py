"""The relay vacuums the outbox as it goes, on real PostgreSQL and the broker: rows live in the
outbox for milliseconds, and without a vacuum (autovacuum looks once a minute) each new row would
take a new page, so the table would grow with everything that ever passed through it."""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import text

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.kafka import ensure_topics
from rentflow_common.outbox import OutboxRelay, enqueue, make_producer
from rentflow_common.testing import create_core_tables, envelope_row
from rentflow_schemas import new_envelope
from rentflow_schemas.payments import PaymentReceived

TOPIC = "payments.received.v1"
NOW = dt.datetime(2026, 4, 6, 9, tzinfo=dt.timezone.utc)


def _envelope(i: int):
    data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"r{i}", channel="card",
                           amount_pence=100 + i, paid_at=NOW, received_at=NOW, reference=f"REF{i}")
    return new_envelope(data, event_type="payments.received", event_id=uuid.uuid4(), producer="test",
                        correlation_id="c")


async def _pass_through(infra, database_url, topic_prefix, vacuum_every_rows: int) -> tuple[int, int, int, int]:
    """Ten rounds of 300 rows written, then relayed: (outbox pages after the first round, after
    the tenth, vacuums, rows published)."""
    engine = make_engine(database_url, schema="svc")
    async with engine.begin() as conn:
        await create_core_tables(conn, "svc")
    await ensure_topics(infra.kafka_bootstrap_servers, 3, [TOPIC], prefix=topic_prefix)
    producer = make_producer(infra.kafka_bootstrap_servers, "test")
    await producer.start()
    relay = OutboxRelay(engine, producer, bootstrap_servers=infra.kafka_bootstrap_servers, topic_prefix=topic_prefix,
                        batch_size=300, vacuum_every_rows=vacuum_every_rows)
    relay.vacuum_interval_s = 0.0
    pages = []
    try:
        for round_ in range(10):
            async with UnitOfWork(engine) as uow:
                await enqueue(uow.raw, [envelope_row(TOPIC, f"acct-{i % 9}", _envelope(round_ * 300 + i))
                                        for i in range(300)])
                await uow.commit()
            while await relay.relay_once():
                await relay._housekeeping()
            async with engine.connect() as c:
                pages.append((await c.execute(text(
                    "select pg_relation_size('svc.outbox') / current_setting('block_size')::int"))).scalar_one())
    finally:
        await relay.close()
        await producer.stop()
        await engine.dispose()
    return pages[0], pages[-1], relay.vacuums, relay.published


async def test_the_outbox_stays_the_size_of_one_batch_whatever_passed_through_it(infra, database_url, topic_prefix):
    first, last, vacuums, published = await _pass_through(infra, database_url, topic_prefix, vacuum_every_rows=300)
    assert (published, vacuums) == (3000, 10)
    assert last <= 2 * first, (first, last)  # the pages of moved rows were used again


async def test_without_the_relays_vacuum_the_outbox_grows_with_every_row(infra, database_url, topic_prefix):
    first, last, vacuums, published = await _pass_through(infra, database_url, topic_prefix, vacuum_every_rows=0)
    assert (published, vacuums) == (3000, 0)
    assert last >= 8 * first, (first, last)  # what the test above guards against
