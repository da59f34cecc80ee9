"""The consumer's decode per record, in one process, no stack: what the ledger pays per payment
received and reporting per posting before their handlers run.

    ./dev bench decode [--records 250] [--rounds 7] [--against CHECKOUT]

Records are built by the real emit path (Emitter.emit_data, as intake and the ledger write them)
with the relay's headers, and fed to BatchConsumer.decode in batches of --records (a decode slice).
Figures are CPU time of this thread (thread_time), the median of --rounds, each the best of 5: the
machine is shared, and wall time follows the neighbours. --against CHECKOUT decodes the same records
with CHECKOUT's rentflow_common/consumer.py too (beside this checkout's other modules), alternated
round by round: old and new in the same process, on the same records.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import inspect
import logging
import statistics
import sys
import time
import timeit
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker

import rentflow_common.consumer
from rentflow_common.events import Cause, Emitter
from rentflow_schemas import derive_event_id
from rentflow_schemas.ledger import TransactionPosted
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc
EPOCH = str(uuid.uuid4()).encode()
CHANNELS = ["card", "bank_transfer", "standing_order", "cash", "direct_debit"]


def records(topic: str, emitter: Emitter) -> list[ConsumerRecord]:
    """The outbox rows as the relay publishes them: its headers, then rf-epoch, rf-stream and rf-seq."""
    return [ConsumerRecord(topic, 0, seq, 0, 0, row.key.encode(), row.payload, None, len(row.key), len(row.payload),
                           tuple([(k, v.encode()) for k, v in row.headers.items()]
                                 + [("rf-epoch", EPOCH), ("rf-stream", b"3"), ("rf-seq", b"%d" % seq)]))
            for seq, row in enumerate(emitter.emitted)]


def payments(n: int) -> list[ConsumerRecord]:
    e = Emitter("payments")
    for i in range(n):
        pid = derive_event_id("bench", str(i))
        now = dt.datetime.now(UTC)
        e.emit_data(PaymentReceived, {
            "payment_id": pid, "provider_id": "bench", "provider_ref": f"run-{i}", "channel": CHANNELS[i % 5],
            "amount_pence": 1000 + i % 9000, "currency": "GBP", "paid_at": dt.datetime(2026, 10, 7, 10, tzinfo=UTC),
            "received_at": now, "reference": f"ACC{i % 5000:06d}", "payer_name": None, "source": "push",
            "import_id": None, "lump": None, "payout_id": None, "fee_pence": None},
            identity=(pid,), key=f"bench:run-{i}", cause=None, occurred_at=now, once=True)
    return records("payments.received.v1", e)


def postings(n: int) -> list[ConsumerRecord]:
    e = Emitter("ledger")
    for i in range(n):
        tid = derive_event_id("bench-t", str(i))
        now = dt.datetime.now(UTC)
        e.emit_data(TransactionPosted, {
            "transaction_id": tid, "account_ref": f"ACC{i % 5000:06d}", "type_code": "RCP",
            "amount_pence": -(1000 + i % 9000), "balance_after_pence": 12345 - i, "posted_at": now,
            "business_date": dt.date(2026, 10, 7), "period": "2026-10", "source_ref": f"bench:run-{i}",
            "channel": "card", "payment_id": derive_event_id("bench", str(i)), "allocation_rule": "exact_reference",
            "week_start": None},
            identity=(tid,), key=f"ACC{i % 5000:06d}", cause=Cause(derive_event_id("bench", str(i)), str(i)),
            occurred_at=now, once=True)
    return records("ledger.transactions.v1", e)


def consumer_module(checkout: str) -> ModuleType:
    path = Path(checkout) / "libs/common/rentflow_common/consumer.py"
    spec = importlib.util.spec_from_file_location("against_consumer", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules["against_consumer"] = module
    spec.loader.exec_module(module)
    return module


def consumer(module: ModuleType, topic: str) -> Any:
    async def handle(uow: Any, msgs: Any) -> None:  # never called: decode only
        pass

    # the topic on msgspec's fast path where the checkout's consumer has one (as the services' consumers)
    fast = {"fast": (topic,)} if "fast" in inspect.signature(module.BatchConsumer).parameters else {}
    return module.BatchConsumer(KafkaBroker("localhost:1", log_level=logging.WARNING), None, group_id="bench",
                                handlers={topic: handle}, **fast)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=250)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--against", help="another checkout whose consumer.py decodes the same records")
    args = parser.parse_args()
    modules = {"this": rentflow_common.consumer}
    if args.against:
        modules = {"against": consumer_module(args.against), **modules}
    for name, recs in (("PaymentReceived", payments(args.records)), ("TransactionPosted", postings(args.records))):
        decoders = {k: consumer(m, recs[0].topic) for k, m in modules.items()}
        for c in decoders.values():
            decoded = c.decode(recs)
            assert len(decoded.good) == len(recs) and not decoded.bad, decoded.bad[:1]
        figures: dict[str, list[float]] = {k: [] for k in decoders}
        for _ in range(args.rounds):
            for k, c in decoders.items():
                best = min(timeit.repeat(lambda: c.decode(recs), number=4, repeat=5, timer=time.thread_time))
                figures[k].append(best / 4 / len(recs) * 1e6)
        print(f"{name:18s} ({len(recs[0].value)} B) " + ", ".join(
            f"{k} {statistics.median(v):.2f}" for k, v in figures.items()) + " µs CPU per record decoded")


if __name__ == "__main__":
    main()
