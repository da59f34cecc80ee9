"""Batched, idempotent consumption with offsets committed only after the database commit.

One FastStream batch subscriber per consumer group (manual ack). For each batch:
decode → one transaction {inbox claim, handler effects, outbox rows} → commit → commit offsets.
A batch that keeps failing is retried message by message; a message that keeps failing goes
to the dead-letter topic `dlq.<group>` with its reason (through the outbox, in a transaction
that also records it in the inbox) and the partition keeps moving. If even that cannot be
written (database away), the batch is tried again until it can be, holding everything behind it.

Pipelined: the subscriber decodes the next batches while a worker task has the last in the
database; batches that queued meanwhile are written together in one transaction (group commit:
transactions grow when the database is the bottleneck, stay small and quick when it is not).
Batches are written strictly in the order fetched, and each transaction's offsets (the last
offset + 1 per partition) are committed after it commits, so a commit never covers a record
that is not in the database. `drain()` finishes the batches in
hand before the broker stops; anything not finished is simply not committed and comes again
(the inbox absorbs it).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, NamedTuple, Sequence

import orjson
import structlog
from aiokafka.structs import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.db import UnitOfWork
from rentflow_common.inbox import claim_new
from rentflow_common.logging import get_logger
from rentflow_common.metrics import Rate
from rentflow_common.outbox import OutboxRow, enqueue
from rentflow_schemas import Envelope, derive_event_id, topic_spec

log = get_logger(__name__)


class Incoming(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: str | None
    envelope: Envelope[Any]


Handler = Callable[[UnitOfWork, Sequence[Incoming]], Awaitable[None]]


@dataclass
class Decoded:
    """A fetched batch, decoded: what to write, what to dead-letter, and the offsets to commit after."""
    records: Sequence[Any]
    good: list[Incoming]
    bad: list[tuple[Any, str]]
    next_offsets: dict[TopicPartition, int]
    written: bool = False

    @staticmethod
    def merge(batches: "list[Decoded]") -> "Decoded":
        if len(batches) == 1:
            return batches[0]
        offsets: dict[TopicPartition, int] = {}
        for b in batches:  # in fetch order: later offsets of a partition win
            offsets.update(b.next_offsets)
        return Decoded([r for b in batches for r in b.records], [i for b in batches for i in b.good],
                       [x for b in batches for x in b.bad], offsets)


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    last_batch_at: dt.datetime | None = None
    per_topic: dict[str, int] = field(default_factory=dict)
    rate: Rate = field(default_factory=Rate)  # messages per second over the last minute


def dlq_topic(group_id: str) -> str:
    return f"dlq.{group_id}"


class BatchConsumer:
    def __init__(self, broker: KafkaBroker, engine: AsyncEngine, *, group_id: str, topics: Sequence[str],
                 handle: Handler, max_records: int = 2000, batch_timeout_ms: int = 20,
                 attempts: int = 3, topic_prefix: str = "", max_merged: int = 10_000) -> None:
        self._prefix = topic_prefix
        self._engine = engine
        self.group_id = group_id
        self.topics = list(topics)
        self._handle = handle
        self._attempts = attempts
        self._adapters = {t: TypeAdapter(Envelope[topic_spec(t).model]) for t in topics}  # type: ignore[misc]
        self.stats = ConsumerStats()
        self._max_merged = max_merged  # messages in one transaction when fetched batches queue up
        self._queue: asyncio.Queue[tuple[Decoded, Any]] = asyncio.Queue(maxsize=4)
        self._worker: asyncio.Task[None] | None = None
        self._draining = False  # no new batches are taken
        self._closing = False  # the batch in hand is given up (not committed) if it cannot be written
        broker.subscriber(
            *(topic_prefix + t for t in self.topics),
            group_id=topic_prefix + group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            max_poll_interval_ms=10 * 60 * 1000,
            decoder=_no_decode,
        )(self._on_batch)

    async def _on_batch(self, body: Any, msg: KafkaMessage) -> None:
        records = msg.raw_message
        if not isinstance(records, tuple):
            records = (records,)
        if not records or self._draining:
            return  # not committed: a stopping consumer leaves these to the next owner
        decoded = self.decode(records)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name=f"consumer-{self.group_id}")
        await self._queue.put((decoded, msg.consumer))  # waits while the worker has one in hand

    async def _work(self) -> None:
        while True:
            taken = [await self._queue.get()]
            # group commit: batches that queued while the last was written go in one transaction
            while not self._queue.empty() and sum(len(d.good) for d, _ in taken) < self._max_merged:
                taken.append(self._queue.get_nowait())
            decoded = Decoded.merge([d for d, _ in taken])
            try:
                await self._process_until_written(decoded)
                if decoded.written:
                    await self._commit(taken[-1][1], decoded.next_offsets)
            finally:
                for _ in taken:
                    self._queue.task_done()

    async def _process_until_written(self, decoded: "Decoded") -> None:
        delay = 0.5
        while not self._closing:
            try:
                await self.process(decoded)
                decoded.written = True
                return
            except Exception as exc:  # the database is away: this batch, and all behind it, wait
                log.error("consumer.batch_unprocessable", group=self.group_id, size=len(decoded.records),
                          error=_short(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _commit(self, kafka_consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        try:
            await kafka_consumer.commit(offsets)
        except Exception as exc:  # a failed commit means redelivery, which the inbox absorbs
            log.warning("consumer.commit_failed", group=self.group_id, error=str(exc))

    async def drain(self, timeout: float = 30.0) -> None:
        """Stops taking batches and waits for those in hand to be written and committed."""
        self._draining = True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except asyncio.TimeoutError:
            log.warning("consumer.drain_timeout", group=self.group_id, timeout_s=timeout)
        self._closing = True

    async def close(self) -> None:
        self._draining = self._closing = True
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass

    def decode(self, records: Sequence[Any]) -> "Decoded":
        good: list[Incoming] = []
        bad: list[tuple[Any, str]] = []
        last: dict[tuple[str, int], int] = {}
        cut = len(self._prefix)
        for r in records:
            last[(r.topic, r.partition)] = r.offset
            topic = r.topic[cut:]
            try:
                env = self._adapters[topic].validate_json(r.value)
            except (ValidationError, ValueError) as exc:
                bad.append((r, f"undecodable {topic} message: {_short(exc)}"))
                continue
            good.append(Incoming(topic, r.partition, r.offset, r.key.decode() if r.key else None, env))
        next_offsets = {TopicPartition(t, p): offset + 1 for (t, p), offset in last.items()}
        return Decoded(records, good, bad, next_offsets)

    async def process_records(self, records: Sequence[Any]) -> None:
        await self.process(self.decode(records))

    async def process(self, decoded: "Decoded") -> None:
        """Dead-letters what cannot be decoded, then writes the batch (retried, then message by message)."""
        for r, reason in decoded.bad:
            await self._dead_letter_record(r, reason, event_id=derive_event_id("dlq", r.topic, r.partition, r.offset))
        decoded.bad = []  # written: a retry of this batch does not dead-letter them again
        good = decoded.good
        if not good:
            return
        for attempt in range(1, self._attempts + 1):
            try:
                await self._process_batch(good)
                return
            except Exception as exc:
                log.warning("consumer.batch_failed", group=self.group_id, size=len(good), attempt=attempt,
                            error=_short(exc))
                await asyncio.sleep(0.05 * 2**attempt)
        for n, item in enumerate(good):  # isolate the message that fails
            await self._process_one(item)
            decoded.good = good[n + 1:]  # a retry after the database went away resumes here

    async def _process_batch(self, items: Sequence[Incoming]) -> None:
        async with UnitOfWork(self._engine) as uow:
            new_ids = await claim_new(uow.raw, (i.envelope.event_id for i in items))
            fresh, seen = [], set()
            for i in items:
                eid = i.envelope.event_id
                if eid in new_ids and eid not in seen:
                    seen.add(eid)
                    fresh.append(i)
            if fresh:
                await self._handle(uow, fresh)
            await uow.commit()
        self._count(items, len(items) - len(fresh))

    async def _process_one(self, item: Incoming) -> None:
        env = item.envelope
        with structlog.contextvars.bound_contextvars(correlation_id=env.correlation_id, event_id=str(env.event_id)):
            last_error = ""
            for attempt in range(1, self._attempts + 1):
                try:
                    await self._process_batch([item])
                    return
                except Exception as exc:
                    last_error = _short(exc)
                    log.warning("consumer.message_failed", group=self.group_id, attempt=attempt, error=last_error)
                    await asyncio.sleep(0.05 * 2**attempt)
            await self._dead_letter(item.topic, item.partition, item.offset, item.key,
                                    env.model_dump(mode="json"), f"handler failed: {last_error}", env.event_id)

    async def _dead_letter_record(self, record: Any, reason: str, event_id: uuid.UUID) -> None:
        try:
            value: Any = orjson.loads(record.value)
        except Exception:
            value = record.value.decode("utf-8", "replace") if record.value else None
        await self._dead_letter(record.topic[len(self._prefix):], record.partition, record.offset,
                                record.key.decode("utf-8", "replace") if record.key else None, value, reason, event_id)

    async def _dead_letter(self, topic: str, partition: int, offset: int, key: str | None, value: Any,
                           reason: str, event_id: uuid.UUID) -> None:
        payload = orjson.dumps({"group_id": self.group_id, "topic": topic, "partition": partition, "offset": offset,
                                "key": key, "reason": reason, "message": value,
                                "dead_lettered_at": dt.datetime.now(dt.timezone.utc).isoformat()})
        async with UnitOfWork(self._engine) as uow:
            if await claim_new(uow.raw, [event_id]):
                await enqueue(uow.raw, [OutboxRow(dlq_topic(self.group_id), key, payload, {"reason": reason[:200]})])
            await uow.commit()
        self.stats.dead_letters += 1
        log.error("consumer.dead_lettered", group=self.group_id, topic=topic, partition=partition, offset=offset,
                  reason=reason)

    def _count(self, items: Sequence[Incoming], duplicates: int) -> None:
        s = self.stats
        s.batches += 1
        s.messages += len(items)
        s.rate.add(len(items))
        s.duplicates += duplicates
        s.last_batch_at = dt.datetime.now(dt.timezone.utc)
        for i in items:
            s.per_topic[i.topic] = s.per_topic.get(i.topic, 0) + 1


async def _no_decode(msg: Any) -> None:
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
