"""The relay fills aiokafka's record batch builder itself (positional appends, one timestamp per
batch): the records it sends are those BatchBuilder.append makes of the same rows — offsets, keys,
values and headers — whether the headers were held as given (a dict) or read back (JSON text)."""
from __future__ import annotations

import asyncio
import uuid

import orjson
from aiokafka.record.memory_records import MemoryRecords

from rentflow_common.outbox import OutboxRelay, make_producer
from rentflow_common.testing import envelope_row, payment_envelope

TOPIC = "payments.received.v1"


class _Meta:
    offset = 0


class _Producer:
    """Takes each batch as the producer's sender does (built), keeps it."""

    def __init__(self) -> None:
        self.real = make_producer("localhost:1", "test-records")  # never started: it makes batches
        self.sent: list[tuple[str, int, bytes]] = []

    def create_batch(self):  # type: ignore[no-untyped-def]
        return self.real.create_batch()

    async def send_batch(self, batch, topic, *, partition):  # type: ignore[no-untyped-def]
        assert batch.closed()
        self.sent.append((topic, partition, bytes(batch._build())))
        future = asyncio.get_running_loop().create_future()
        future.set_result(_Meta())
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1, 2}


def _records(data: bytes) -> list[tuple[int, int, bytes | None, bytes | None, list[tuple[str, bytes]]]]:
    batch = MemoryRecords(data).next_batch()
    return [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in batch]


async def test_the_relays_records_are_those_aiokafka_appends_make():
    producer = _Producer()
    relay = OutboxRelay(None, producer, bootstrap_servers="localhost:1")  # type: ignore[arg-type]
    relay.epoch = str(uuid.uuid4()).encode()

    async def _record(_raw, _deliveries):  # type: ignore[no-untyped-def]
        pass

    relay._record = _record  # type: ignore[method-assign]
    outbox = [envelope_row(TOPIC, f"acct-{i % 7}", payment_envelope(i)) for i in range(40)]
    rows = [(TOPIC, 1, 100 + i, o.key.encode(), o.payload,
             o.headers if i % 2 else orjson.dumps(o.headers).decode()) for i, o in enumerate(outbox)]
    await relay._publish(None, rows)

    [(topic, partition, data)] = producer.sent
    assert (topic, partition) == (TOPIC, 1)
    got = _records(data)
    assert len({ts for _o, ts, *_ in got}) == 1  # one timestamp per batch

    want = producer.real.create_batch()
    for i, o in enumerate(outbox):
        headers = [(k, v.encode()) for k, v in o.headers.items()]
        headers += [("rf-epoch", relay.epoch), ("rf-stream", b"1"), ("rf-seq", str(100 + i).encode())]
        assert want.append(timestamp=None, key=o.key.encode(), value=o.payload, headers=headers)
    appended = _records(bytes(want._build()))
    assert [(o, k, v, h) for o, _ts, k, v, h in got] == [(o, k, v, h) for o, _ts, k, v, h in appended]
    assert [h for *_x, h in got][3][:3] == [(k, v.encode()) for k, v in outbox[3].headers.items()]
