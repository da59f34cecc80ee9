"""The relay's publish step alone (OutboxRelay._publish): the records' headers, the record batches and
their compression, per event, without a broker or a database (the producer takes each batch as its
sender would: built; where it landed is not recorded).

    .venv/bin/python bench/relay.py [--events 2000] [--rounds 20] [--read-back]

Events as the payments intake emits them (PaymentReceived, three headers), over 6 streams, held in
memory as committed (headers a dict) or, with --read-back, read back from the outbox (JSON text).
For a load-independent figure run it under callgrind (the same command with each tree's interpreter):
`valgrind --tool=callgrind --callgrind-out-file=/tmp/x.cg .venv/bin/python bench/relay.py --rounds 5`, less
the same with --rows-only (everything but the publishing), over the events published.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import time
import uuid

import orjson
from aiokafka import AIOKafkaProducer

from rentflow_common.outbox import OutboxRelay, make_producer


class _Meta:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class _Producer:
    """What the relay asks of its producer, a batch taken as the sender takes it (built, compressed)."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self._real = real
        self._compression_type = real._compression_type
        self._message_accumulator = real._message_accumulator
        self.offsets: dict[tuple[str, int], int] = {}
        self.bytes = 0

    def create_batch(self):  # type: ignore[no-untyped-def]
        return self._real.create_batch()

    async def send_batch(self, batch, topic, *, partition):  # type: ignore[no-untyped-def]
        self.bytes += len(batch._build())
        offset = self.offsets.get((topic, partition), 0)
        self.offsets[(topic, partition)] = offset + batch.record_count()
        future = asyncio.get_running_loop().create_future()
        future.set_result(_Meta(offset))
        return future

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(6))


def rows(n: int, seq0: int, read_back: bool) -> list[tuple]:
    out = []
    correlation = str(uuid.uuid4())
    for i in range(n):
        payload = orjson.dumps({
            "event_id": str(uuid.uuid4()), "event_type": "payments.received", "schema_version": 1,
            "occurred_at": "2026-10-07T10:00:00.123456Z", "correlation_id": correlation, "causation_id": None,
            "producer": "payments", "data": {
                "payment_id": str(uuid.uuid4()), "provider_id": str(uuid.uuid4()), "provider_ref": f"bench-{i}",
                "channel": "card", "amount_pence": 1000 + i, "currency": "GBP", "paid_at": "2026-10-07T10:00:00Z",
                "received_at": "2026-10-07T10:00:00.123456Z", "reference": f"{10000000 + i}"}})
        headers = {"event_id": payload[13:49].decode(), "event_type": "payments.received",
                   "correlation_id": correlation}
        out.append(("payments.received.v1", i % 6, seq0 + i // 6, f"{10000000 + i}".encode(), payload,
                    orjson.dumps(headers).decode() if read_back else headers))
    return out


async def main(args: argparse.Namespace) -> None:
    real = make_producer("localhost:1", "bench-relay")  # never started: it only makes batches
    producer = _Producer(real)
    relay = OutboxRelay(None, producer, bootstrap_servers="localhost:1")  # type: ignore[arg-type]
    relay.epoch = str(uuid.uuid4()).encode()

    async def _record(_raw, deliveries):  # type: ignore[no-untyped-def]
        pass

    relay._record = _record  # type: ignore[method-assign]
    batches = [rows(args.events, 1 + k * args.events, args.read_back) for k in range(args.rounds + 1)]
    await relay._publish(None, batches[0])  # warm-up
    producer.bytes = 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(1_000_000)  # as a service runs (service.tune_garbage_collector)
    if args.rows_only:
        return
    started = time.process_time()
    for batch in batches[1:]:
        await relay._publish(None, batch)
    took = time.process_time() - started
    events = args.events * args.rounds
    print(f"{events} events: {took / events * 1e6:.2f} µs CPU per event published, "
          f"{producer.bytes / events:.0f} bytes per event sent")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--read-back", action="store_true")
    parser.add_argument("--rows-only", action="store_true", help="make the rows, publish nothing (a baseline)")
    asyncio.run(main(parser.parse_args()))
