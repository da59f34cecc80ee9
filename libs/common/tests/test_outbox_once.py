"""Each outbox event is written once (outbox_events); the relay records a numbering row per stream
and claim (outbox_numbers). On real PostgreSQL and the broker: an event id emitted in two commits
is published once, a batch whose events were deleted is skipped, the retention prune keeps what
is not yet published, and the first layout (`outbox` and `outbox_log` tables with rows) converts
with its numbers kept."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.kafka import ensure_topics
from rentflow_common.outbox import OutboxRelay, backlog, enqueue, make_producer, request_replay
from rentflow_common.testing import (payment_envelope as _envelope, create_core_tables, drain, envelope_row, poll,
                                     read_topic, relay_dies_before_recording)

TOPIC = "payments.received.v1"


async def _write(engine, envelopes) -> None:
    async with UnitOfWork(engine) as uow:
        await enqueue(uow.raw, [envelope_row(TOPIC, f"acct-{i % 5}", e) for i, e in enumerate(envelopes)])
        await uow.commit()


async def _published(infra, topic_prefix, expected: int) -> list[tuple[int, int, int]]:
    """(rf-stream, rf-seq, amount - 100) of every message on the topic, once `expected` are there."""
    return sorted((int(h["rf-stream"]), int(h["rf-seq"]), int(body["data"]["amount_pence"]) - 100)
                  for h, body in await read_topic(infra.kafka_bootstrap_servers, topic_prefix + TOPIC, expected))


async def test_an_event_id_emitted_in_two_commits_is_published_once(infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC])
    engine = r.engine
    first = [_envelope(i) for i in range(10)]
    again = [_envelope(i, first[i].event_id) for i in range(3)]
    relay = r.relay(partitions=3)
    await _write(engine, first)
    await drain(relay)  # numbered and published
    await _write(engine, again + [_envelope(10)])  # a later commit: three again, one new
    await _write(engine, [_envelope(11), _envelope(3, first[3].event_id)])  # and one more
    await drain(relay)
    await relay.close()
    async with engine.connect() as c:
        logged = (await c.execute(text("select count(*), count(distinct event_id) from svc.outbox_log"))).one()
        left = (await c.execute(text(
            "select (select count(*) from svc.outbox), (select count(*) from svc.outbox_pending)"))).one()
    assert (relay.published, relay.duplicates_dropped) == (12, 4)
    assert tuple(logged) == (12, 12) and tuple(left) == (0, 0)
    assert len(await _published(infra, topic_prefix, 12)) == 12


async def test_a_batch_whose_events_were_deleted_is_skipped(infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC])
    engine = r.engine
    await _write(engine, [_envelope(i) for i in range(4)])
    async with engine.begin() as c:
        assert (await c.execute(text("delete from svc.outbox"))).rowcount == 4  # the view is updatable
    await _write(engine, [_envelope(i) for i in range(4, 7)])
    relay = r.relay(partitions=3)
    await drain(relay)
    await relay.close()
    async with engine.connect() as c:
        amounts = sorted((await c.execute(text(
            "select (convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')::int "
            "from svc.outbox_log"))).scalars())
        pending = (await c.execute(text("select count(*) from svc.outbox_pending"))).scalar_one()
    assert (relay.published, amounts, pending) == (3, [104, 105, 106], 0)


async def _numbered_sent_not_recorded(r, infra, topic_prefix) -> None:
    await relay_dies_before_recording(r.engine, r.producer, bootstrap_servers=infra.kafka_bootstrap_servers,
                                      topic_prefix=topic_prefix, partitions=3)


async def test_the_retention_prune_keeps_what_is_not_yet_published(infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC])
    engine = r.engine
    await _write(engine, [_envelope(i) for i in range(5)])
    relay = r.relay(partitions=3)
    await drain(relay)  # published
    await relay.close()
    await _write(engine, [_envelope(i) for i in range(5, 9)])
    await _numbered_sent_not_recorded(r, infra, topic_prefix)
    await _write(engine, [_envelope(i) for i in range(9, 12)])  # waiting to be numbered
    fresh = r.relay(partitions=3, retention=dt.timedelta(0))
    assert await fresh._lead()
    deleted = await fresh.prune()  # everything is older than a window of 0
    async with engine.connect() as c:
        kept = sorted((await c.execute(text(
            "select (convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')::int - 100 "
            "from svc.outbox_log union all select (convert_from(payload, 'utf8')::jsonb -> 'data' "
            "->> 'amount_pence')::int - 100 from svc.outbox"))).scalars())
        numbers = (await c.execute(text("select count(*) from svc.outbox_numbers"))).scalar_one()
    await drain(fresh)
    await fresh.close()
    assert deleted == 5  # the published events
    assert kept == list(range(5, 12)) and numbers >= 1
    assert (fresh.republished, fresh.published) == (4, 7)  # the unrecorded ones again, then the pending ones


async def test_numbered_events_deleted_by_hand_before_they_were_published_leave_no_backlog(
        infra, database_url, topic_prefix, rig):
    """The prune keeps what is unpublished, but an operator may delete numbered events (a poison
    event, by hand): the relay then has nothing to publish from its position, and says so once; the
    position is recorded, so `backlog` (what `rentflow wait` and `status` read) does not count them
    for ever, nor does the next relay's start look for them again."""
    r = await rig([TOPIC])
    engine = r.engine
    await _write(engine, [_envelope(i) for i in range(4)])
    await _numbered_sent_not_recorded(r, infra, topic_prefix)
    async with engine.begin() as c:
        assert (await c.execute(text("delete from svc.outbox_events"))).rowcount == 4
    assert (await backlog(engine))["backlog"] == 4
    relay = r.relay(partitions=3)
    await drain(relay)
    await relay.close()
    assert (relay.republished, relay.published) == (0, 0)
    assert (await backlog(engine))["backlog"] == 0
    again = r.relay(partitions=3)
    assert await again._lead()
    assert not [s for s, (nxt, pub) in again._streams.items() if pub < nxt - 1]  # nothing behind
    await _write(engine, [_envelope(4)])
    await drain(again)
    await again.close()
    assert again.published == 1 and (await backlog(engine))["backlog"] == 0


async def test_events_committed_while_the_retention_prune_is_held_are_published_without_waiting_for_it(
        infra, database_url, topic_prefix, rig):
    """The prune runs beside the relay's rounds, on a connection of its own: while it waits (here for
    a lock on the inbox table; in a service, for a week-old burst to delete), events committed
    meanwhile are published at once. Stopping the relay stops the prune."""
    r = await rig([TOPIC])
    engine = r.engine

    async def prune_waiting() -> int:
        async with engine.connect() as c:
            return (await c.execute(text(
                "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                "and query like 'delete from inbox%'"))).scalar_one()

    async with engine.connect() as blocker:
        await blocker.execute(text("lock table svc.inbox in access exclusive mode"))  # held until rollback
        relay = r.relay(partitions=3)
        task = asyncio.create_task(relay.run())
        try:
            await poll(prune_waiting, timeout=30, what="the relay's first prune, held at the inbox")
            await _write(engine, [_envelope(i) for i in range(5)])
            await poll(lambda: asyncio.sleep(0, relay.published == 5), timeout=10,
                       what="the 5 events published while the prune waits")
            assert await prune_waiting() == 1
        finally:
            relay.stop()
            await asyncio.wait_for(task, 10)  # the held prune is cancelled, not waited for
        await blocker.rollback()
    assert relay._pruning is None
    assert len(await _published(infra, topic_prefix, 5)) == 5


# The first layout, as its migrations left it (rentflow_common.outbox before outbox_events).
LEGACY_DDL = [
    "create table outbox (id bigserial primary key, topic text not null, key bytea, payload bytea not null, "
    "headers text not null default '{}', created_at timestamptz not null default now(), event_id uuid)",
    """create table outbox_log (topic text not null, stream int not null, seq bigint not null, key bytea,
        payload bytea not null, headers text not null, created_at timestamptz not null,
        sequenced_at timestamptz not null default now(), event_id uuid, primary key (topic, stream, seq))""",
    "create unique index outbox_log_event_id on outbox_log (event_id) where event_id is not null",
    """create table outbox_streams (topic text not null, stream int not null, next_seq bigint not null,
        published_seq bigint not null default 0, primary key (topic, stream))""",
    """create or replace function rentflow_outbox_notify() returns trigger language plpgsql as $$
        begin perform pg_notify('rentflow_outbox_' || current_schema(), ''); return null; end $$""",
    "create trigger outbox_notify after insert on outbox for each statement execute function rentflow_outbox_notify()",
]


async def test_the_first_layout_converts_with_its_rows_and_numbers(infra, database_url, topic_prefix):
    """Pending rows become a pending batch the relay numbers after what the streams had; the
    retained log keeps its numbers, and `request_replay` publishes it again under them."""
    t1 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    t2 = t1 + dt.timedelta(minutes=5)
    retained = [(0, 1, t1), (0, 2, t1), (0, 3, t1), (0, 4, t2), (0, 5, t2), (1, 1, t1), (1, 2, t1)]
    engine = make_engine(database_url, schema="svc")
    async with engine.begin() as conn:
        await conn.execute(text('create schema if not exists "svc"'))
        await conn.execute(text('set search_path to "svc"'))
        for ddl in LEGACY_DDL:
            await conn.execute(text(ddl))
        raw = (await conn.get_raw_connection()).driver_connection
        for i, (stream, seq, at) in enumerate(retained):
            row = envelope_row(TOPIC, f"acct-{stream}", _envelope(i))
            await raw.execute("insert into outbox_log (topic, stream, seq, key, payload, headers, created_at, "
                              "sequenced_at, event_id) values ($1, $2, $3, $4, $5, '{}', $6, $6, $7)",
                              TOPIC, stream, seq, row.key.encode(), row.payload, at, row.event_id)
        await raw.execute("insert into outbox_streams values ($1, 0, 6, 5), ($1, 1, 3, 2)", TOPIC)
        for i in range(20, 23):
            row = envelope_row(TOPIC, "acct-0", _envelope(i))
            await raw.execute("insert into outbox (topic, key, payload, event_id) values ($1, $2, $3, $4)",
                              TOPIC, row.key.encode(), row.payload, row.event_id)
    for _ in range(2):  # converts, then finds nothing to convert
        async with engine.begin() as conn:
            await create_core_tables(conn, "svc")
    await ensure_topics(infra.kafka_bootstrap_servers, 3, [TOPIC], prefix=topic_prefix)
    producer = make_producer(infra.kafka_bootstrap_servers, "test")
    await producer.start()
    try:
        async with engine.connect() as c:
            log = (await c.execute(text(
                "select stream, seq, sequenced_at, (convert_from(payload, 'utf8')::jsonb -> 'data' ->> "
                "'amount_pence')::int - 100 from svc.outbox_log order by stream, seq"))).all()
            pending = (await c.execute(text("select count(*) from svc.outbox"))).scalar_one()
            numbers = (await c.execute(text("select count(*) from svc.outbox_numbers"))).scalar_one()
        relay = OutboxRelay(engine, producer, bootstrap_servers=infra.kafka_bootstrap_servers,
                            topic_prefix=topic_prefix, partitions=3)
        await drain(relay)
        async with UnitOfWork(engine) as uow:
            replayed = await request_replay(uow.raw, t1 - dt.timedelta(seconds=1))
            await uow.commit()
        relay._reload = True
        await drain(relay)
        await relay.close()
    finally:
        await producer.stop()
        await engine.dispose()
    assert [tuple(r) for r in log] == [(s, q, at, i) for i, (s, q, at) in enumerate(retained)]
    assert (pending, numbers) == (3, 3)  # stream 0 numbered twice, stream 1 once
    assert replayed == {TOPIC: 10} and (relay.published, relay.republished) == (13, 10)  # all since t1
    got = await _published(infra, topic_prefix, 13)
    new_stream = got[[a for _s, _q, a in got].index(20)][0]
    first_new = {0: 6, 1: 3}.get(new_stream, 1)
    assert got == sorted([(s, q, i) for i, (s, q, _at) in enumerate(retained)]
                         + 2 * [(new_stream, first_new + k, 20 + k) for k in range(3)])  # the new ones twice


async def _markers_pass_through(rig, vacuum_every_rows: int) -> tuple[int, int, int]:
    """Eight rounds of 200 commits of one event each, then relayed: (outbox_pending pages after
    the first round, after the eighth, vacuums)."""
    r = await rig([TOPIC])
    engine = r.engine
    async with engine.begin() as c:  # only the relay's own vacuum counts: autovacuum may or may not come by
        await c.execute(text("alter table svc.outbox_pending set (autovacuum_enabled = false)"))
    relay = r.relay(partitions=3, batch_size=200, vacuum_every_rows=vacuum_every_rows)
    relay.vacuum_interval_s = 0.0
    pages = []
    for round_ in range(8):
        for i in range(200):
            await _write(engine, [_envelope(round_ * 200 + i)])
        while await relay.relay_once():
            await relay._housekeeping()
        async with engine.connect() as c:
            pages.append((await c.execute(text("select pg_relation_size('svc.outbox_pending') / "
                                               "current_setting('block_size')::int"))).scalar_one())
    await relay.close()
    assert relay.published == 1600
    return pages[0], pages[-1], relay.vacuums


async def test_the_relays_vacuum_keeps_the_marker_table_the_size_of_one_claim(infra, database_url, topic_prefix, rig):
    """A marker per commit lives for milliseconds; vacuumed as the relay goes, their pages are used
    again."""
    first, last, vacuums = await _markers_pass_through(rig, vacuum_every_rows=200)
    assert vacuums == 8 and last <= 2 * first, (first, last, vacuums)


async def test_without_the_relays_vacuum_the_marker_table_grows_with_every_commit(
        infra, database_url, topic_prefix, rig):
    first, last, vacuums = await _markers_pass_through(rig, vacuum_every_rows=0)
    assert vacuums == 0 and last >= 4 * first, (first, last)  # what the test above guards against


async def _unanalysed_outbox(rig, columns: str, rows: str) -> Any:
    """A rig whose outbox_events holds `rows` (a select giving `columns`), committed and never analysed."""
    r = await rig([TOPIC])
    async with r.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute("alter table outbox_events set (autovacuum_enabled = false)")
        await raw.execute(f"insert into outbox_events ({columns}) {rows}")
    return r


async def test_the_duplicate_check_probes_the_event_id_index_on_an_unanalysed_outbox(rig):
    """A debit run or an import adds events faster than autovacuum analyses them; the relay's check
    for event ids numbered before must not read the whole outbox per claim meanwhile."""
    from rentflow_common.outbox import NUMBERED_PLAN, NUMBERED_SQL

    r = await _unanalysed_outbox(rig, "batch, n, topic, payload, event_id",
                                 "select g / 1000, g % 1000, 'ledger.transactions.v1', repeat('x', 600)::bytea, "
                                 "gen_random_uuid() from generate_series(0, 199999) g")
    async with r.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        claimed = [r[0] for r in await raw.fetch("select event_id from outbox_events where batch = 199")]

        async def plan() -> str:
            return "\n".join(r[0] for r in await raw.fetch("explain " + NUMBERED_SQL, claimed, [199]))

        unguided = await plan()
        async with raw.transaction():  # as the relay's claim is
            await raw.execute(NUMBERED_PLAN)
            guided = await plan()
    # planned per id, the check probes the index even unguided (as `event_id = any(...)` over the table, the
    # planner scanned all of it here without statistics); the guide stays for whatever else it might try
    for plan_text in (unguided, guided):
        assert "Seq Scan on outbox_events" not in plan_text and "outbox_events_event_id" in plan_text, plan_text


async def test_the_duplicate_check_probes_the_event_id_index_when_most_events_have_no_id(rig):
    """The outbox as the ledger fills it in bench e2e, unanalysed: batches of ~500 events, most of them
    `once` (no event id: postings), one in five with one (journals, accounts), and outbox_pending vacuumed
    by the relay (known empty). Told only not to scan the table, the planner read all of it through its
    primary key instead (a merge anti join on batch): 12-46 ms a claim on 44,000 events in bench e2e, where
    probing the claim's ids takes under 1."""
    from rentflow_common.outbox import NUMBERED_PLAN, NUMBERED_SQL

    r = await _unanalysed_outbox(rig, "batch, n, topic, payload, headers, event_id",
                                 "select 1 + g / 500, g % 500, 'ledger.transactions.v1', repeat('x', 716)::bytea, "
                                 "repeat('h', 151), case when g % 5 = 0 then gen_random_uuid() end "
                                 "from generate_series(0, 43999) g")
    async with r.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        async with raw.transaction():  # a marker made and taken away, as every commit's is
            await raw.execute("insert into outbox_pending (events) values (1)")
            await raw.execute("delete from outbox_pending")
        await raw.execute("vacuum (skip_locked, truncate false) outbox_pending")  # as the relay does (vacuum_outbox)
        numbered_before = await raw.fetchval("select event_id from outbox_events where batch = 3 and n = 0")
        claimed = [uuid.uuid4() for _ in range(700)]  # a claim's new ids
        async with raw.transaction():  # as the relay's claim is
            await raw.execute(NUMBERED_PLAN)
            plan = "\n".join(r[0] for r in await raw.fetch("explain " + NUMBERED_SQL, claimed, [89]))
            found = await raw.fetch(NUMBERED_SQL, [*claimed, numbered_before], [89])
    scans = [line.strip()[:90] for line in plan.splitlines() if "Scan" in line or "Join" in line]
    assert "outbox_events_pkey" not in plan and "Seq Scan on outbox_events" not in plan, scans
    assert "outbox_events_event_id" in plan, scans
    assert [r[0] for r in found] == [numbered_before]  # an id an earlier batch holds is found
