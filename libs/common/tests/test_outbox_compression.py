"""The relay's record batches go to the broker zstd-compressed (make_producer): what the broker
stores, and every reader fetches, is the compressed batch; a plain consumer reads the events as
they were emitted."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.default_records import DefaultRecordBatch
from aiokafka.record.memory_records import MemoryRecords
import cramjam
import pytest

from rentflow_common.db import UnitOfWork
from rentflow_common.outbox import ZSTD_LEVEL
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


@pytest.mark.parametrize("builder", ["c", "python"])
def test_record_batches_are_compressed_at_the_relays_zstd_level(builder):
    """aiokafka has no setting for the level: outbox.py sets its builders' encoder (level 3 by default)."""
    import aiokafka.record.default_records as records

    make = (records.DefaultRecordBatchBuilder if builder == "c"
            else records._DefaultRecordBatchBuilderPy)  # the one aiokafka uses without its C extensions
    envelopes = [payment_envelope(i) for i in range(200)]

    def built(compression: int) -> bytes:
        b = make(magic=2, compression_type=compression, is_transactional=0, producer_id=-1, producer_epoch=-1,
                 base_sequence=-1, batch_size=1 << 24)
        for i, e in enumerate(envelopes):
            row = envelope_row(TOPIC, f"acct-{i % 7}", e)
            b.append(i, timestamp=1_700_000_000_000 + i, key=row.key.encode(), value=row.payload,
                     headers=[(k, v.encode()) for k, v in row.headers.items()])
        return bytes(b.build())[61:]  # the records, after the batch's header

    records_bytes = built(0)
    compressed = built(DefaultRecordBatch.CODEC_ZSTD)
    assert compressed == bytes(cramjam.zstd.compress(records_bytes, level=ZSTD_LEVEL))
    assert compressed != bytes(cramjam.zstd.compress(records_bytes, level=3))
    assert bytes(cramjam.zstd.decompress(compressed)) == records_bytes
