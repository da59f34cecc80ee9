"""The relay's loss check against a real (embedded) broker and PostgreSQL, where offsets alone cannot
tell: a partition recreated empty whose last batch from us began at offset 0. The record at our
batch's base offset settles it (outbox.OutboxRelay._check_topics)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker
from sqlalchemy import text

from rentflow_common.consumer import BatchConsumer
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Emitter
from rentflow_common.kafka import ensure_topics
from rentflow_common.outbox import OutboxRelay
from rentflow_common.testing import poll
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc
TOPIC = "payments.received.v1"
N = 90
PARTITIONS = 3


def _payment(i: int) -> PaymentReceived:
    now = dt.datetime(2026, 4, 6, 9, tzinfo=UTC)
    return PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"r{i}", channel="card",
                           amount_pence=100 + i, paid_at=now, received_at=now, reference=f"REF{i}")


async def _published_once_at_offset_0(rig):
    """N events written in one transaction and published by one relay round: one batch per
    partition, each at base offset 0 (asserted), so each partition's last batch began at 0."""
    r = await rig([TOPIC, "dlq.g"], partitions=PARTITIONS,
                  tables=("create table seen (event_id uuid not null, amount int not null)",))
    engine = r.engine
    batch = Emitter("test")
    for i in range(N):
        batch.emit(_payment(i), cause=None)
    async with UnitOfWork(engine, producer="test") as uow:
        uow.emitted = batch.emitted
        await uow.commit()
    relay = r.relay(partitions=PARTITIONS)
    assert await relay.relay_once() == N
    await relay.close()
    async with engine.connect() as c:
        deliveries = (await c.execute(text(
            "select count(*), count(distinct partition), max(base_offset), min(last_seq - first_seq + 1) "
            "from svc.outbox_deliveries"))).one()
    assert deliveries[0] == deliveries[1] == PARTITIONS and deliveries[2] == 0, deliveries
    assert deliveries[3] > 1  # batches of several records: the embedded broker's end (base + 1) is short of ours
    return r


async def _recreate(infra, topic_prefix, partitions: int = PARTITIONS) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([topic_prefix + TOPIC])
    finally:
        await admin.close()
    await ensure_topics(infra.kafka_bootstrap_servers, partitions, [TOPIC], prefix=topic_prefix)


def _spy(relay: OutboxRelay) -> tuple[list[dict], list[str]]:
    """Records what each probe found and each reason a topic was republished."""
    probes: list[dict] = []
    reasons: list[str] = []
    records_at, republish = relay._records_at, relay._republish_topic

    async def records_at_spy(probe, offsets, *args, **kwargs):
        found = await records_at(probe, offsets, *args, **kwargs)
        probes.append(found)
        return found

    async def republish_spy(raw, topic, why):
        reasons.append(why)
        await republish(raw, topic, why)

    relay._records_at, relay._republish_topic = records_at_spy, republish_spy
    return probes, reasons


async def _log_on_broker(infra, topic_prefix, want: int) -> list[tuple[bytes, bytes, bytes]]:
    """(rf-epoch, rf-stream, rf-seq) of every record in the topic, read from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[bytes, bytes, bytes]] = []
    try:
        tps = [TopicPartition(topic_prefix + TOPIC, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < want and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    h = dict(r.headers)
                    got.append((h["rf-epoch"], h["rf-stream"], h["rf-seq"]))
        for records in (await consumer.getmany(timeout_ms=500)).values():  # nothing more than wanted
            got += [(b"", b"", b"")] * len(records)
    finally:
        await consumer.stop()
    return got


async def test_a_topic_recreated_empty_under_batches_at_offset_0_is_published_again_and_taken_once(
        infra, database_url, topic_prefix, rig):
    """Every partition's last batch began at offset 0; the topic is deleted and recreated empty, so
    it ends at 0, not before our batches: only the empty record at offset 0 shows the loss. A relay
    that starts afterwards (loading what it delivered from outbox_deliveries) finds it on its first
    check, publishes the whole log again, and a consumer that had every event takes none twice."""
    r = await _published_once_at_offset_0(rig)
    engine = r.engine

    async def handle(uow, msgs):
        await uow.raw.executemany("insert into seen values ($1, $2)",
                                  [(m.cause.event_id, m.data.amount_pence) for m in msgs])

    async def seen() -> tuple[int, int]:
        async with engine.connect() as c:
            return tuple((await c.execute(text("select count(*), count(distinct event_id) from svc.seen"))).one())

    async def seen_all():
        return await seen() == (N, N)

    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=False, log_level=logging.DEBUG)
    consumer = BatchConsumer(broker, engine, group_id="g", handlers={TOPIC: handle}, topic_prefix=topic_prefix,
                             fetch_max_wait_ms=25)
    await broker.start()
    relay = r.relay(partitions=PARTITIONS, check_every_s=0.3)
    probes, reasons = _spy(relay)
    relay_task = None
    try:
        await poll(seen_all, timeout=60, what=f"each of the {N} events handled once")
        await _recreate(infra, topic_prefix)

        relay_task = asyncio.create_task(relay.run())
        await poll(lambda: _true(relay.republished >= N), timeout=60, what=f"the lost topic's {N} events published again")
        assert relay.topics_lost == {TOPIC: 1}, reasons
        assert reasons[0].endswith("holds nothing at offset 0, where our batch began"), reasons
        assert probes[0] and all(record is None for record in probes[0].values()), probes[0]

        log = await _log_on_broker(infra, topic_prefix, N)  # the whole log is on the broker again, once
        assert len(log) == N and len(set(log)) == N and {e for e, _s, _q in log} == {relay.epoch}
        await asyncio.sleep(1.5)  # several more checks: the republished batches are found intact
        assert relay.topics_lost == {TOPIC: 1}, reasons
        assert relay.republished == N
        assert any(probe and all(record is not None for record in probe.values()) for probe in probes[1:]), probes
        assert await seen() == (N, N)
        assert consumer.stats.messages == N, consumer.stats
    finally:
        await broker.stop()
        relay.stop()
        if relay_task is not None:
            await relay_task


async def test_nothing_lost_means_nothing_published_again(infra, database_url, topic_prefix, rig):
    """The control: the same batches at offset 0, the topic untouched. The embedded broker reports
    each partition's end as its last batch's base offset + 1, short of our batch, so every check
    reads the record at offset 0, finds ours, and publishes nothing again."""
    r = await _published_once_at_offset_0(rig)
    engine = r.engine
    relay = r.relay(partitions=PARTITIONS)
    probes, reasons = _spy(relay)
    try:
        assert await relay._lead()
        for _ in range(3):
            await relay._check_topics()
            assert await relay.relay_once() == 0
        assert len(probes) == 3 and all(len(p) == PARTITIONS for p in probes), probes
        for probe in probes:
            assert all(r is not None and r.offset == 0 for r in probe.values()), probe
        assert relay.topics_lost == {} and reasons == [] and relay.republished == 0
        async with engine.connect() as c:
            assert (await c.execute(text("select sum(published_seq) from svc.outbox_streams"))).scalar_one() == N
    finally:
        await relay.close()


async def test_a_recreated_topic_holding_someone_elses_record_at_our_offset_is_published_again(
        infra, database_url, topic_prefix, rig):
    """Recreated, and another producer wrote first: the record at offset 0 is not our batch's first
    (no rf-epoch, rf-stream, rf-seq of ours), so the topic was lost all the same."""
    r = await _published_once_at_offset_0(rig)
    await _recreate(infra, topic_prefix)
    other = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=False)
    await other.start()
    for p in range(PARTITIONS):
        await other.send_and_wait(topic_prefix + TOPIC, b"{}", key=b"x", partition=p,
                                  headers=[("rf-stream", str(p).encode()), ("rf-seq", b"1")])
    await other.stop()
    relay = r.relay(partitions=PARTITIONS)
    _probes, reasons = _spy(relay)
    try:
        assert await relay._lead()
        await relay._check_topics()
        assert relay.topics_lost == {TOPIC: 1}
        assert len(reasons) == 1 and "holds at offset 0 a record that is not our batch's first" in reasons[0], reasons
        while await relay.relay_once():
            pass
        assert relay.republished == N
    finally:
        await relay.close()


async def _true(value):
    return value


async def test_a_relay_started_after_a_republish_checks_the_batches_published_again_not_the_lost_ones(
        infra, database_url, topic_prefix, rig):
    """Two rounds put a second batch above offset 0 in each partition; the topic is recreated and
    its log published again, from offset 0. outbox_deliveries keeps both the lost batches and the new
    ones: a relay that leads afterwards (a restart, or the next leader) must check the latest
    delivered, else it takes the lost higher offsets for the topic's present and republishes again."""
    r = await _published_once_at_offset_0(rig)
    engine = r.engine
    batch = Emitter("test")
    for i in range(N, 2 * N):
        batch.emit(_payment(i), cause=None)
    async with UnitOfWork(engine, producer="test") as uow:
        uow.emitted = batch.emitted
        await uow.commit()
    first = r.relay(partitions=PARTITIONS)
    try:
        assert await first.relay_once() == N
        async with engine.connect() as c:
            assert (await c.execute(text("select min(base_offset) from svc.outbox_deliveries where first_seq > 1"))
                    ).scalar_one() > 0
        await _recreate(infra, topic_prefix)
        await first._check_topics()
        assert first.topics_lost == {TOPIC: 1}
        while await first.relay_once():
            pass
        assert first.republished == 2 * N
    finally:
        await first.close()

    after = r.relay(partitions=PARTITIONS)
    _probes, reasons = _spy(after)
    try:
        assert await after._lead()
        assert {base for (base, *_rest) in after._ends.values()} == {0}, after._ends
        await after._check_topics()
        assert after.topics_lost == {} and reasons == [], reasons
        assert await after.relay_once() == 0 and after.republished == 0
    finally:
        await after.close()


async def test_a_batch_below_the_log_start_aged_out_unless_the_log_was_cut(infra, database_url, topic_prefix, rig):
    """Retention removed our batch (the log starts past it): if the partition still ends at or past
    our batch's end, that is ageing out, not loss, and nothing is fetched; if it ends short of it, the
    log was cut under us: lost. The embedded broker cannot delete records (DeleteRecords closes the
    connection), so the offsets a real broker would report are stood in for here; the partitions,
    database and the rest of the check are real."""
    r = await _published_once_at_offset_0(rig)
    relay = r.relay(partitions=PARTITIONS)
    probes, reasons = _spy(relay)
    try:
        assert await relay._lead()
        ours = {TopicPartition(topic_prefix + t, p): end for (t, p), (_b, end, _s, _f) in relay._ends.items()}
        probe = await relay._probe_consumer()

        async def offsets(start: int, past: int):
            async def starts(tps):
                return {tp: start for tp in tps}

            async def ends(tps):
                return {tp: ours[tp] + past for tp in tps}
            probe.beginning_offsets, probe.end_offsets = starts, ends

        await offsets(start=max(ours.values()) + 5, past=10)  # aged out: the log goes on past our batch
        await relay._check_topics()
        assert relay.topics_lost == {} and reasons == [] and probes == []

        await offsets(start=1, past=-1)  # starts past our batch, ends short of its end: cut
        await relay._check_topics()
        assert relay.topics_lost == {TOPIC: 1} and probes == []
        assert len(reasons) == 1 and "not our batch at 0.." in reasons[0], reasons
    finally:
        await relay.close()


async def test_events_committed_during_a_slow_topic_check_are_published_without_waiting_for_it(
        infra, database_url, topic_prefix, rig):
    """The check runs beside the relay's rounds: while one is held at its fetch (the embedded broker
    holds a fetch for the probe's whole fetch wait), events committed meanwhile are published at once;
    the check then finishes, finds nothing lost, and the next one starts."""
    r = await _published_once_at_offset_0(rig)
    relay = r.relay(partitions=PARTITIONS, check_every_s=0.2)
    probes, reasons = _spy(relay)
    held, release = asyncio.Event(), asyncio.Event()
    records_at = relay._records_at

    async def slow_records_at(probe, offsets, *args, **kwargs):
        held.set()
        await release.wait()
        return await records_at(probe, offsets, *args, **kwargs)

    relay._records_at = slow_records_at
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.wait_for(held.wait(), 30)  # a check is under way, and held
        batch = Emitter("test")
        for i in range(N, N + 10):
            batch.emit(_payment(i), cause=None)
        async with UnitOfWork(r.engine, producer="test") as uow:
            uow.emitted = batch.emitted
            await uow.commit()
        await poll(lambda: _true(relay.published == 10), timeout=10, what="the 10 events published during the check")
        assert probes == [] and relay._checking is not None and not relay._checking.done()
        release.set()
        await poll(lambda: _true(len(probes) >= 2), timeout=30, what="the held check finished, and another after it")
        assert relay.topics_lost == {} and reasons == [] and relay.republished == 0
    finally:
        release.set()
        relay.stop()
        await task


async def test_a_topic_made_again_with_fewer_partitions_is_published_again_to_those_listed(
        infra, database_url, topic_prefix, rig):
    """The embedded broker, restarted empty, can list a topic with fewer partitions than the relay
    wrote to (and it takes records sent to the others all the same, where no consumer reads them).
    The check finds a partition we wrote to that is not listed (asking a partition's offsets where
    none is listed waits for ever), and the log is published again to the partitions listed, though
    the producer had last seen three."""
    r = await _published_once_at_offset_0(rig)
    await _recreate(infra, topic_prefix, partitions=1)
    assert await r.producer.partitions_for(topic_prefix + TOPIC) == {0, 1, 2}  # what it knew
    relay = r.relay(partitions=PARTITIONS)
    _probes, reasons = _spy(relay)
    try:
        assert await relay._lead()
        await asyncio.wait_for(relay._check_topics(), 20)
        assert relay.topics_lost == {TOPIC: 1}
        assert reasons == ["partition 1 is not listed (the topic has 1)"], reasons
        while await relay.relay_once():
            pass
        assert relay.republished == N

        consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic_prefix + TOPIC, 0)  # the one listed
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            seen: set[tuple[bytes, bytes]] = set()
            deadline = asyncio.get_running_loop().time() + 30
            while len(seen) < N and asyncio.get_running_loop().time() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen |= {(dict(x.headers)["rf-stream"], dict(x.headers)["rf-seq"]) for x in records}
        finally:
            await consumer.stop()
        assert len(seen) == N  # every event of every stream, where consumers are given to read
        await asyncio.wait_for(relay._check_topics(), 20)  # and now found intact
        assert relay.topics_lost == {TOPIC: 1}, reasons
    finally:
        await relay.close()
