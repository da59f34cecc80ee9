"""The relay's record batches go to the broker zstd-compressed (make_producer): what the broker
stores, and every reader fetches, is the compressed batch; a plain consumer reads the events as
they were emitted."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords

from rentflow_common.db import UnitOfWork
from rentflow_common.testing import drain, envelope_row, payment_envelope, read_topic

TOPIC = "payments.received.v1"


async def _stored_batches(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int]]:
    """(compression type, records) of every record batch the broker holds on `topic`, as it sends them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        client = consumer._client
        await client.force_metadata_update()
        node = client.cluster.leader_for_partition(TopicPartition(topic, 0))  # the one broker
        response = await client.send(node, FetchRequest(100, 1, 16 << 20, 0, [(topic, [
            (p, 0, 16 << 20) for p in range(partitions)])]))
        batches = []
        for _topic, parts in response.topics:
            for part in parts:
                records = MemoryRecords(part[-1])
                while (batch := records.next_batch()) is not None:
                    batches.append((batch.compression_type, len(list(batch))))
        return batches
    finally:
        await consumer.stop()


async def test_the_relay_publishes_zstd_record_batches(infra, topic_prefix, rig):
    r = await rig([TOPIC])
    relay = r.relay(partitions=3)
    envelopes = [payment_envelope(i) for i in range(60)]
    async with UnitOfWork(r.engine, producer="payments") as uow:
        uow.emitted += [envelope_row(TOPIC, f"acct-{i % 7}", e) for i, e in enumerate(envelopes)]
        await uow.commit()
    await drain(relay)
    await relay.close()

    batches = await _stored_batches(infra.kafka_bootstrap_servers, topic_prefix + TOPIC, 3)
    assert batches and sum(n for _, n in batches) == 60
    assert {c for c, _ in batches} == {DefaultRecordBatch.CODEC_ZSTD}

    got = await read_topic(infra.kafka_bootstrap_servers, topic_prefix + TOPIC, 60)
    assert sorted(body["event_id"] for _, body in got) == sorted(str(e.event_id) for e in envelopes)
