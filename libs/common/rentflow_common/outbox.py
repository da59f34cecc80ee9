"""Transactional outbox: events are written in the same transaction as the change that caused
them; the relay is the only publisher. Rows are claimed with FOR UPDATE SKIP LOCKED and
deleted once the broker has acknowledged them, so nothing is skipped when transactions
commit out of order, and nothing is lost if the relay dies mid-batch (it is re-sent; consumers
dedupe on event_id)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.logging import get_logger
from rentflow_common.metrics import Rate
from rentflow_schemas import Envelope

log = get_logger(__name__)

OUTBOX_DDL = """
create table if not exists outbox (
    id bigserial primary key,
    topic text not null,
    key bytea,
    payload bytea not null,
    headers text not null default '{}',
    created_at timestamptz not null default now()
)
"""

INBOX_DDL = """
create table if not exists inbox (
    event_id uuid primary key,
    processed_at timestamptz not null default now()
)
"""


@dataclass(frozen=True)
class OutboxRow:
    topic: str
    key: str | None
    payload: bytes
    headers: dict[str, str]


def outbox_row(topic: str, key: str | None, envelope: Envelope[Any] | BaseModel) -> OutboxRow:
    payload = envelope.model_dump_json().encode()
    headers = {}
    if isinstance(envelope, Envelope):
        headers = {"event_id": str(envelope.event_id), "event_type": envelope.event_type,
                   "correlation_id": envelope.correlation_id}
    return OutboxRow(topic=topic, key=key, payload=payload, headers=headers)


async def enqueue(raw_conn: Any, rows: Sequence[OutboxRow]) -> None:
    """Adds rows to the outbox inside the caller's transaction (asyncpg connection), set-based."""
    if not rows:
        return
    await raw_conn.copy_records_to_table(
        "outbox",
        records=[(r.topic, r.key.encode() if r.key is not None else None, r.payload, orjson.dumps(r.headers).decode())
                 for r in rows],
        columns=["topic", "key", "payload", "headers"],
    )


async def backlog(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        return int(await raw.fetchval("select count(*) from outbox"))


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all; no idempotence: the embedded broker refuses it and the inbox makes duplicates harmless.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )


HASH_CACHE_SIZE = 50_000

CLAIM_SQL = """
delete from outbox where id in (
    select id from outbox order by id limit $1 for update skip locked
) returning id, topic, key, payload, headers
"""


class OutboxRelay:
    """Publishes outbox rows in id order, batch by batch, and deletes them once acknowledged."""

    def __init__(self, engine: AsyncEngine, producer: AIOKafkaProducer, *, batch_size: int = 2000,
                 idle_sleep: float = 0.02, topic_prefix: str = "") -> None:
        self._prefix = topic_prefix
        self._engine = engine
        self._producer = producer
        self._batch_size = batch_size
        self._idle_sleep = idle_sleep
        self._stopping = asyncio.Event()
        self.published = 0
        self.rate = Rate()  # rows published per second over the last minute
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._round_robin = 0
        self._hashes: dict[bytes, int] = {}
        self._conn: Any = None

    async def run(self) -> None:
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    sent = await self.relay_once()
                    backoff = 0.1
                    if sent < self._batch_size:
                        await self._sleep(self._idle_sleep)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database away: keep the rows, try again
                    log.warning("outbox.relay_failed", error=str(exc), retry_in_s=backoff)
                    await self._release(invalidate=True)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._release()

    async def relay_once(self) -> int:
        """Claims, publishes and deletes one batch. The relay keeps one connection of the engine's
        pool for itself: it polls many times a second, and a checkout per poll cost more than the poll."""
        if self._conn is None:
            self._conn = await self._engine.connect()
        raw = (await self._conn.get_raw_connection()).driver_connection
        async with raw.transaction():
            rows = await raw.fetch(CLAIM_SQL, self._batch_size)
            if not rows:
                return 0
            await self._publish(sorted(rows, key=lambda r: r["id"]))
        self.published += len(rows)
        self.rate.add(len(rows))
        return len(rows)

    async def close(self) -> None:
        """Returns the relay's connection (run() does this itself when it ends)."""
        await self._release()

    async def _release(self, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if invalidate:
                await conn.invalidate()  # it may be broken: the pool opens a new one
            await conn.close()
        except Exception:
            pass

    async def _publish(self, rows: Sequence[Any]) -> None:
        """Appends rows to one record batch per partition (in id order) and sends the batches:
        much cheaper than a send() per record. Partitions follow the Kafka default partitioner
        (murmur2 of the key), so per-key order is what any Kafka client would give."""
        by_partition: dict[tuple[str, int], list[Any]] = {}
        for r in rows:
            topic = self._prefix + r["topic"]
            by_partition.setdefault((topic, await self._partition(topic, r["key"])), []).append(r)
        futures = []
        for (topic, partition), items in by_partition.items():
            batch = self._producer.create_batch()
            for r in items:
                headers = [(k, str(v).encode()) for k, v in orjson.loads(r["headers"]).items()]
                if batch.append(timestamp=None, key=r["key"], value=r["payload"], headers=headers) is None:
                    futures.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    if batch.append(timestamp=None, key=r["key"], value=r["payload"], headers=headers) is None:
                        raise ValueError(f"outbox row {r['id']} is larger than the producer's batch size")
            futures.append(await self._producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def _partition(self, topic: str, key: bytes | None) -> int:
        now = asyncio.get_running_loop().time()
        cached = self._partitions.get(topic)
        if cached is None or now - cached[0] > 30:
            cached = (now, sorted(await self._producer.partitions_for(topic)))
            self._partitions[topic] = cached
        partitions = cached[1]
        if key is None:
            self._round_robin += 1
            return partitions[self._round_robin % len(partitions)]
        h = self._hashes.get(key)
        if h is None:  # murmur2 is pure Python in aiokafka; account keys repeat, so keep their hashes
            if len(self._hashes) >= HASH_CACHE_SIZE:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[h % len(partitions)]

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()
