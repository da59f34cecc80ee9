"""Batches a process commits while its relay leads are numbered and published from memory, not
read back from the outbox (outbox.committed); what is published is the same. A batch an event of
which was deleted meanwhile (`delete from outbox`) is read back, so the deleted event stays
unpublished; a relay that does not lead holds nothing."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from rentflow_common.db import UnitOfWork
from rentflow_common.testing import drain, envelope_row, payment_envelope, read_topic

TOPIC = "payments.received.v1"


async def _commit(engine, numbers) -> dict[int, str]:
    """Commits payments `numbers` (more than enqueue writes in one statement); i → event id."""
    envelopes = {i: payment_envelope(i) for i in numbers}
    async with UnitOfWork(engine, producer="payments") as uow:
        uow.emitted += [envelope_row(TOPIC, f"acct-{i % 5}", e) for i, e in envelopes.items()]
        await uow.commit()
    return {i: str(e.event_id) for i, e in envelopes.items()}


async def _published(infra, topic_prefix, expected: int) -> list[tuple[int, int, int, str]]:
    """(rf-stream, rf-seq, i, event_id header) of every message on the topic, once `expected` are there."""
    got = []
    for h, body in await read_topic(infra.kafka_bootstrap_servers, topic_prefix + TOPIC, expected):
        assert h["event_id"] == body["event_id"] and h["correlation_id"] == body["correlation_id"]
        got.append((int(h["rf-stream"]), int(h["rf-seq"]), body["data"]["amount_pence"] - 100, h["event_id"]))
    return sorted(got)


async def test_batches_committed_while_leading_are_published_from_memory(infra, database_url, topic_prefix, rig):
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    assert await relay._lead()
    ids = await _commit(r.engine, range(100))
    await drain(relay)
    assert (relay.published, relay.read_back) == (100, 0)

    ids |= await _commit(r.engine, range(100, 200))
    async with r.engine.begin() as c:  # before the relay claims it: this one must not be published
        deleted = await c.execute(text(
            "delete from svc.outbox where (convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')::int "
            "= 250"))
        assert deleted.rowcount == 1
    await drain(relay)
    assert (relay.published, relay.read_back) == (199, 99)
    await relay.close()

    other = r.relay(partitions=3)  # not leading while this commits: nothing held, all read back
    ids |= await _commit(r.engine, range(200, 300))
    await drain(other)
    await other.close()
    assert (other.published, other.read_back) == (100, 100)

    got = await _published(infra, topic_prefix, 299)
    assert sorted((i, e) for _, _, i, e in got) == [(i, ids[i]) for i in range(300) if i != 150]
    for stream in {s for s, _, _, _ in got}:  # each stream numbered 1, 2, 3, ... in order
        seqs = [q for s, q, _, _ in got if s == stream]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_a_batch_claimed_as_its_commit_returns_is_held(infra, database_url, topic_prefix, rig, monkeypatch):
    """Handed over before the COMMIT: a relay that claims the batch the moment the COMMIT returns,
    before the unit of work resumes, finds it held (handed over after the COMMIT, it was read back)."""
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    assert await relay._lead()
    commit = AsyncConnection.commit

    async def commit_then_claim(conn: AsyncConnection) -> None:
        await commit(conn)
        await drain(relay)

    monkeypatch.setattr(AsyncConnection, "commit", commit_then_claim)
    ids = await _commit(r.engine, range(100))
    monkeypatch.undo()
    assert (relay.published, relay.read_back) == (100, 0)
    await relay.close()
    got = await _published(infra, topic_prefix, 100)
    assert sorted((i, e) for _, _, i, e in got) == [(i, ids[i]) for i in range(100)]


async def test_rows_written_before_the_commit_are_held_and_published_in_order(infra, database_url, topic_prefix,
                                                                               rig):
    """`write_emitted` writes what was emitted so far (a handler's rows before it locks accounts), the
    commit the rest: both batches are handed to the leading relay, published once each, each stream in
    the order emitted; a unit of work that wrote rows early and rolled back publishes none of them."""
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    assert await relay._lead()
    envelopes = {i: payment_envelope(i) for i in range(200)}
    async with UnitOfWork(r.engine, producer="payments") as uow:
        uow.emitted += [envelope_row(TOPIC, f"acct-{i % 5}", envelopes[i]) for i in range(100)]
        await uow.write_emitted()
        assert uow.emitted == []
        assert await uow.raw.fetchval("select count(*) from outbox_events") == 100  # in this transaction
        uow.emitted += [envelope_row(TOPIC, f"acct-{i % 5}", envelopes[i]) for i in range(100, 200)]
        await uow.commit()
    async with UnitOfWork(r.engine, producer="payments") as uow:  # rolled back: nothing of it is published
        uow.emitted += [envelope_row(TOPIC, "acct-0", payment_envelope(i)) for i in range(200, 300)]
        await uow.write_emitted()
    await drain(relay)
    assert (relay.published, relay.read_back) == (200, 0)
    await relay.close()

    got = await _published(infra, topic_prefix, 200)
    assert sorted((i, e) for _, _, i, e in got) == [(i, str(envelopes[i].event_id)) for i in range(200)]
    for stream in {s for s, _, _, _ in got}:  # numbered in the order emitted, across the two batches
        items = sorted((q, i) for s, q, i, _ in got if s == stream)
        assert [q for q, _ in items] == list(range(1, len(items) + 1))
        assert [i for _, i in items] == sorted(i for _, i in items)


async def test_a_held_batch_is_published_with_the_same_headers_as_one_read_back(infra, database_url, topic_prefix,
                                                                                rig):
    """A held batch's headers are taken from the dicts given to enqueue, a read-back one's from the JSON
    text written: the same header bytes either way, values that are not strings included."""
    r = await rig([TOPIC])
    import datetime as dt

    extra = {"attempt": 3, "urgent": True, "note": None, "ratio": 0.5, "who": "ops",
             "at": dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)}  # its JSON text, not str(): T, not a space

    async def commit(numbers) -> None:
        async with UnitOfWork(r.engine, producer="payments") as uow:
            uow.emitted += [envelope_row(TOPIC, f"acct-{i % 5}", payment_envelope(i))._replace(
                headers={**extra, "i": i}) for i in numbers]
            await uow.commit()

    relay = r.relay(partitions=3)
    assert await relay._lead()
    await commit(range(100))
    await drain(relay)
    await relay.close()
    other = r.relay(partitions=3)  # not leading while this commits: read back
    await commit(range(100, 200))
    await drain(other)
    await other.close()
    assert (relay.read_back, other.read_back) == (0, 100)

    got = await read_topic(infra.kafka_bootstrap_servers, topic_prefix + TOPIC, 200)
    assert len(got) == 200
    for h, body in got:
        i = body["data"]["amount_pence"] - 100
        assert {k: h[k] for k in (*extra, "i")} == {"attempt": "3", "urgent": "True", "note": "None",
                                                    "ratio": "0.5", "who": "ops", "at": "2026-12-05T00:00:00+00:00",
                                                    "i": str(i)}, i


async def test_held_batches_are_not_counted_in_the_outbox_while_nothing_is_deleted(infra, database_url,
                                                                                    topic_prefix, rig):
    """Counting a held batch's events in the outbox reads every one of them: it is done only when a
    statement deleted from the outbox since the batch was handed over."""
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    assert await relay._lead()
    await _commit(r.engine, range(100))
    await drain(relay)
    await _commit(r.engine, range(100, 200))
    await _commit(r.engine, range(200, 300))
    await drain(relay)
    assert (relay.published, relay.read_back, relay.counted) == (300, 0, 0)
    async with r.engine.begin() as c:  # deletes nothing, and is seen all the same
        await c.execute(text("delete from svc.outbox_events where batch < 0"))
    await _commit(r.engine, range(300, 400))
    await drain(relay)
    await relay.close()
    assert (relay.published, relay.read_back, relay.counted) == (400, 0, 100)


async def test_held_events_deleted_from_the_table_or_truncated_are_not_published(infra, database_url,
                                                                                  topic_prefix, rig):
    """Not only `delete from outbox`: a statement deleting from outbox_events itself (here on a
    connection whose search_path is not the service's schema), or truncating it, is seen too."""
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    assert await relay._lead()
    ids = await _commit(r.engine, range(100))
    async with r.engine.begin() as c:
        await c.execute(text("set local search_path to public"))
        deleted = await c.execute(text(
            "delete from svc.outbox_events where (convert_from(payload, 'utf8')::jsonb -> 'data' ->> 'amount_pence')"
            "::int = 107"))
        assert deleted.rowcount == 1
    await drain(relay)
    await _commit(r.engine, range(100, 200))
    async with r.engine.begin() as c:
        await c.execute(text("truncate svc.outbox_events"))
    await drain(relay)
    await relay.close()
    assert (relay.published, relay.read_back, relay.counted) == (99, 99, 200)
    got = await _published(infra, topic_prefix, 99)
    assert sorted((i, e) for _, _, i, e in got) == [(i, ids[i]) for i in range(100) if i != 7]
