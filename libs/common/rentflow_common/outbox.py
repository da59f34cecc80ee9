"""Transactional outbox and its relay. The outbox is the source of truth; the broker a
transport that can be refilled.

A service's units of work add rows to `outbox` in the transaction of the change that caused
them. The relay (one per service at a time: the holder of an advisory lock) moves them into
`outbox_log`, numbering each row within its stream — (topic, partition) — and then publishes
the log in that order with three headers: the outbox's `rf-epoch` (made once per service
database), `rf-stream` and `rf-seq`. Consumers record which sequence numbers of each stream
they have processed (rentflow_common.progress), in the transaction of their effects: a message
published twice — a retry, a replay, a republish after the broker lost a topic — is recognised
by its number, wherever and whenever it lands.

An event emitted twice (two rows with one event id) is numbered and published once: the log's
unique index on event_id, within the retention window, is the one place that recognises it,
for every consumer group at once.

The log keeps published rows for a retention window (default 7 days) with where they landed
(`outbox_deliveries`: partition and base offset of each record batch). Republishing is moving a
stream's `published_seq` back: the relay then publishes the log again from there. It does so
by itself when a topic it publishes to was lost or recreated (a batch lands at an offset lower
than one it already had, or the topic is gone or shorter than what was delivered), and for
`rentflow replay --since`.

A row is numbered before it is published and keeps its number: a relay that dies after the
broker took a batch but before recording it publishes the same numbers again. Within a stream
the relay sends one record batch at a time, so the broker holds each stream in order."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any, Iterable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from rentflow_common.partitioning import murmur2
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.events import OutboxRow
from rentflow_common.logging import get_logger
from rentflow_common.metrics import Rate

log = get_logger(__name__)

__all__ = ["OutboxRow", "OutboxRelay", "enqueue", "backlog", "make_producer", "request_replay", "TABLES_DDL"]

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

# The retained log, streams, deliveries, consumer progress and dead letters (every service has them).
TABLES_DDL = [
    OUTBOX_DDL,
    INBOX_DDL,
    "alter table outbox add column if not exists event_id uuid",
    "create index if not exists inbox_processed_at on inbox (processed_at)",
    """create table if not exists outbox_meta (
        id int primary key default 1 check (id = 1),
        epoch uuid not null default gen_random_uuid())""",
    "insert into outbox_meta (id) values (1) on conflict do nothing",
    """create table if not exists outbox_log (
        topic text not null,
        stream int not null,
        seq bigint not null,
        key bytea,
        payload bytea not null,
        headers text not null,
        created_at timestamptz not null,
        sequenced_at timestamptz not null default now(),
        event_id uuid,
        primary key (topic, stream, seq))""",
    "create index if not exists outbox_log_sequenced_at on outbox_log (sequenced_at)",
    "create unique index if not exists outbox_log_event_id on outbox_log (event_id) where event_id is not null",
    """create table if not exists outbox_streams (
        topic text not null,
        stream int not null,
        next_seq bigint not null,
        published_seq bigint not null default 0,
        primary key (topic, stream))""",
    """create table if not exists outbox_deliveries (
        topic text not null,
        stream int not null,
        first_seq bigint not null,
        last_seq bigint not null,
        partition int not null,
        base_offset bigint not null,
        delivered_at timestamptz not null default now())""",
    "create index if not exists outbox_deliveries_at on outbox_deliveries (delivered_at)",
    """create table if not exists consumer_progress (
        group_id text not null,
        topic text not null,
        epoch uuid not null,
        stream int not null,
        ranges bigint[] not null,
        updated_at timestamptz not null default now(),
        primary key (group_id, topic, epoch, stream))""",
    """create table if not exists dead_letters (
        id bigserial primary key,
        group_id text not null,
        topic text not null,
        partition int,
        "offset" bigint,
        key text,
        value bytea,
        headers text not null default '{}',
        event_id uuid,
        reason text not null,
        status text not null default 'open' check (status in ('open', 'parked', 'retried', 'discarded')),
        dead_lettered_at timestamptz not null default now(),
        resolved_at timestamptz,
        resolved_by text)""",
    "create index if not exists dead_letters_key on dead_letters (group_id, key) where status in ('open', 'parked')",
    # Rows committed to the outbox wake the relay, in whichever process leads it: one notification
    # per statement (a COPY of thousands of rows is one), delivered when the transaction commits.
    """create or replace function rentflow_outbox_notify() returns trigger language plpgsql as $$
        begin perform pg_notify('rentflow_outbox_' || current_schema(), ''); return null; end $$""",
    "create or replace trigger outbox_notify after insert on outbox for each statement "
    "execute function rentflow_outbox_notify()",
]


async def enqueue(raw_conn: Any, rows: Sequence[OutboxRow]) -> None:
    """Adds rows to the outbox inside the caller's transaction (asyncpg connection), set-based."""
    if not rows:
        return
    await raw_conn.copy_records_to_table(
        "outbox",
        records=[(r.topic, r.key.encode() if r.key is not None else None, r.payload, orjson.dumps(r.headers).decode(),
                  r.event_id) for r in rows],
        columns=["topic", "key", "payload", "headers", "event_id"],
    )


async def backlog(engine: AsyncEngine) -> dict[str, Any]:
    """Rows not yet published: waiting to be numbered, and numbered but not yet published; the
    age of the oldest; and about how many published rows the log keeps (the planner's estimate:
    counting them would read the whole log)."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        row = await raw.fetchrow(
            "select (select count(*) from outbox) as pending, (select min(created_at) from outbox) as oldest, "
            "(select coalesce(sum(next_seq - 1 - published_seq), 0) from outbox_streams) as unpublished, "
            "(select min(l.created_at) from outbox_log l join outbox_streams s using (topic, stream) "
            " where l.seq = s.published_seq + 1) as oldest_unpublished, "
            "(select greatest(reltuples, 0)::bigint from pg_class where oid = 'outbox_log'::regclass) as retained")
    oldest = min([t for t in (row["oldest"], row["oldest_unpublished"]) if t is not None], default=None)
    age = (dt.datetime.now(dt.timezone.utc) - oldest).total_seconds() if oldest else 0.0
    return {"backlog": int(row["pending"]) + int(row["unpublished"]), "oldest_age_s": round(max(age, 0.0), 3),
            "retained": int(row["retained"])}


async def request_replay(engine: AsyncEngine, since: dt.datetime, topics: Iterable[str] | None = None
                         ) -> dict[str, int]:
    """Moves the published position of every stream back to its first row numbered at or after
    `since` (of `topics`, or all), so the relay publishes them again. Returns rows per topic."""
    wanted = list(topics) if topics is not None else None
    async with engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        rows = await raw.fetch(
            "select topic, stream, min(seq) as first, count(*) filter (where seq <= s.published_seq) as n "
            "from outbox_log l join outbox_streams s using (topic, stream) "
            "where l.sequenced_at >= $1 and ($2::text[] is null or topic = any($2::text[])) "
            "group by topic, stream", since, wanted)
        await raw.executemany("update outbox_streams set published_seq = least(published_seq, $3) "
                              "where topic = $1 and stream = $2", [(r["topic"], r["stream"], r["first"] - 1)
                                                                   for r in rows])
        await raw.execute("select pg_notify($1, 'replay')", notify_channel(await raw.fetchval("select current_schema()")))
    out: dict[str, int] = {}
    for r in rows:
        out[r["topic"]] = out.get(r["topic"], 0) + int(r["n"])
    return out


def notify_channel(schema: str) -> str:
    return f"rentflow_outbox_{schema}"


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all; no idempotence: the embedded broker refuses it, and the relay's own numbering
    # makes a message sent twice harmless.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=0,
        max_batch_size=1024 * 1024,
        request_timeout_ms=30000,
    )


HASH_CACHE_SIZE = 50_000
VACUUM_EVERY_ROWS = 10_000  # the relay vacuums the outbox after moving this many rows (OutboxRelay.vacuum_outbox)

# Claims the oldest rows (not their payloads).
CLAIM_SQL = "select id, topic, key, event_id from outbox order by id limit $1 for update skip locked"

# Moves the claimed rows into the log under the numbers the relay gave them, deletes every claimed
# row (those left out too: duplicates), records the streams' next numbers, and returns the log rows
# to publish: one statement, the payloads copied inside the database and sent to the relay once.
MOVE_SQL = """
with moved as (
    insert into outbox_log (topic, stream, seq, key, payload, headers, created_at, event_id)
    select o.topic, u.s, u.q, o.key, o.payload, o.headers, o.created_at, o.event_id
    from unnest($1::bigint[], $2::int[], $3::bigint[]) as u(id, s, q) join outbox o on o.id = u.id
    where o.id = any($1::bigint[])
    returning topic, stream, seq, key, payload, headers, created_at, event_id),
gone as (delete from outbox where id = any($4::bigint[])),
counted as (
    insert into outbox_streams (topic, stream, next_seq)
    select * from unnest($5::text[], $6::int[], $7::bigint[])
    on conflict (topic, stream) do update set next_seq = excluded.next_seq)
select topic, stream, seq, key, payload, headers, created_at, event_id from moved
"""



class TopicLost(Exception):
    """A topic the relay publishes to was lost or recreated."""


class OutboxRelay:
    """The only publisher of a service's events. See the module docstring."""

    def __init__(self, engine: AsyncEngine, producer: AIOKafkaProducer, *, bootstrap_servers: str,
                 topic_prefix: str = "", partitions: int = 6, batch_size: int = 2000,
                 retention: dt.timedelta = dt.timedelta(days=7), check_every_s: float = 10.0,
                 idle_wait_s: float = 30.0, vacuum_every_rows: int = VACUUM_EVERY_ROWS) -> None:
        self._prefix = topic_prefix
        self._engine = engine
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self._partitions_default = partitions
        self._batch_size = batch_size
        self._retention = retention
        self._check_every = check_every_s
        self._idle_wait = idle_wait_s
        self._vacuum_every = vacuum_every_rows
        self._moved_since_vacuum = 0  # outbox rows deleted since the relay last vacuumed the outbox
        self._last_vacuum = 0.0
        self.vacuums = 0
        self.vacuum_interval_s = 1.0  # at most one vacuum of the outbox this often
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.published = 0
        self.republished = 0
        self.duplicates_dropped = 0
        self.topics_lost: dict[str, int] = {}
        self.leader = False
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.last_published_at: float | None = None  # monotonic
        self.rate = Rate()  # rows published per second over the last minute
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._hashes: dict[bytes, int] = {}
        self._conn: Any = None  # the leader's connection: holds the advisory lock
        self._schema = ""
        self.epoch = b""
        self._streams: dict[tuple[str, int], list[int]] = {}  # (topic, stream) → [next_seq, published_seq]
        # (topic, partition) → our last batch there: (base offset, end offset, stream, first seq)
        self._ends: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        self._last_check = 0.0
        self._last_prune = 0.0
        self._probe: AIOKafkaConsumer | None = None

    # ------------------------------------------------------------------ running

    def wake(self) -> None:
        """Something was committed to the outbox in this process."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        try:
            while not self._stopping.is_set():
                try:
                    if not await self._lead():
                        await self._sleep(1.0)
                        continue
                    sent = await self.relay_once()
                    await self._housekeeping()
                    backoff = 0.1
                    self.last_ok_at = time.monotonic()
                    self.last_error = None
                    if sent == 0:  # woken by a commit (in this process, or NOTIFY from any), else the next check
                        due = self._check_every - (time.monotonic() - self._last_check)
                        await self._sleep(max(0.05, min(self._idle_wait, due)))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # broker or database away: keep the rows, try again
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    log.warning("outbox.relay_failed", error=self.last_error, retry_in_s=backoff)
                    await self._release(invalidate=True)
                    if isinstance(exc, TopicLost):
                        await self._ensure_topics_quietly([exc.args[0][len(self._prefix):]])
                    elif isinstance(exc, KafkaError):
                        await self._ensure_topics_quietly()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._release()
            if self._probe is not None:
                await self._probe.stop()
                self._probe = None

    async def close(self) -> None:
        await self._release()

    async def _lead(self) -> bool:
        """Holds the service's relay lock on a connection of its own; loads the streams when it
        becomes the leader (and after any failure: the connection is then new)."""
        if self._conn is not None:
            return True
        conn = await self._engine.connect()
        raw = (await conn.get_raw_connection()).driver_connection
        try:
            self._schema = await raw.fetchval("select current_schema()")
            if not await raw.fetchval("select pg_try_advisory_lock(hashtext($1))", f"rentflow-relay:{self._schema}"):
                await conn.close()
                self.leader = False
                return False
            await self._load(raw)
            await raw.add_listener(notify_channel(self._schema), self._on_notify)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        if not self.leader:
            log.info("outbox.relay_leading", schema=self._schema)
        self.leader = True
        return True

    async def _load(self, raw: Any) -> None:
        self.epoch = str(await raw.fetchval("select epoch from outbox_meta where id = 1")).encode()
        self._streams = {(r["topic"], r["stream"]): [r["next_seq"], r["published_seq"]]
                         for r in await raw.fetch("select topic, stream, next_seq, published_seq from outbox_streams")}
        # Each partition's latest delivery: the latest recorded, not the highest offset (after a topic
        # was recreated, the batches published again land below the ones it lost).
        self._ends = {(r["topic"], r["partition"]): (r["base_offset"], r["base_offset"] + r["n"], r["stream"],
                                                     r["first_seq"]) for r in await raw.fetch(
            "select distinct on (topic, partition) topic, partition, base_offset, last_seq - first_seq + 1 as n, "
            "stream, first_seq from outbox_deliveries order by topic, partition, delivered_at desc, base_offset desc")}

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == "replay":
            self._reload = True
        self._wake.set()

    _reload = False

    async def _raw(self) -> Any:
        return (await self._conn.get_raw_connection()).driver_connection

    async def _release(self, invalidate: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if invalidate:
                await conn.invalidate()  # it may be broken: the pool opens a new one
            else:
                raw = (await conn.get_raw_connection()).driver_connection
                await raw.execute("select pg_advisory_unlock_all()")
            await conn.close()
        except Exception:
            pass

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()

    # ------------------------------------------------------------------ one round

    async def relay_once(self) -> int:
        """Publishes what is behind in the log, else numbers and publishes a batch of new rows
        (0 when there was nothing, or another instance's relay leads)."""
        if not await self._lead():
            return 0
        raw = await self._raw()
        if self._reload:
            self._reload = False
            await self._load(raw)
        behind = [s for s, (nxt, pub) in self._streams.items() if pub < nxt - 1]
        if behind:
            return await self._catch_up(raw, behind)
        async with raw.transaction():
            claimed = await raw.fetch(CLAIM_SQL, self._batch_size)
            if not claimed:
                return 0
            emitted = [r["event_id"] for r in claimed if r["event_id"] is not None]
            seen = {r[0] for r in await raw.fetch(
                "select event_id from outbox_log where event_id = any($1::uuid[])", emitted)} if emitted else set()
            ids, streams, seqs = [], [], []
            changed: dict[tuple[str, int], list[int]] = {}
            partitions = {t: await self._partitions_of(self._prefix + t) for t in {r["topic"] for r in claimed}}
            for r in sorted(claimed, key=lambda r: r["id"]):
                event_id = r["event_id"]
                if event_id is not None:
                    if event_id in seen:  # emitted again: published once, whoever emitted it how often
                        self.duplicates_dropped += 1
                        continue
                    seen.add(event_id)
                stream = self._key_partition(partitions[r["topic"]], r["key"])
                state = self._streams.get((r["topic"], stream))
                if state is None:
                    state = self._streams[(r["topic"], stream)] = [1, 0]
                ids.append(r["id"])
                streams.append(stream)
                seqs.append(state[0])
                state[0] += 1
                changed[(r["topic"], stream)] = state
            rows = [tuple(r) for r in await raw.fetch(
                MOVE_SQL, ids, streams, seqs, [r["id"] for r in claimed], [t for t, _s in changed],
                [s for _t, s in changed], [st[0] for st in changed.values()])]
            self._moved_since_vacuum += len(claimed)
            if not rows:
                return len(claimed)
        await self._publish(raw, rows)
        return len(rows)

    async def _catch_up(self, raw: Any, behind: list[tuple[str, int]]) -> int:
        """Publishes the log of streams whose published position is behind (after a failure, a
        replay or a lost topic), from that position, in order."""
        per_stream = max(100, self._batch_size // len(behind))
        rows: list[tuple[Any, ...]] = []
        for topic, stream in behind:
            state = self._streams[(topic, stream)]
            got = await raw.fetch(
                "select topic, stream, seq, key, payload, headers, created_at, event_id from outbox_log "
                "where topic = $1 and stream = $2 and seq > $3 order by seq limit $4",
                topic, stream, state[1], per_stream)
            if got:
                rows += [tuple(r) for r in got]
            else:  # nothing retained after the position (pruned): nothing to publish again
                state[1] = state[0] - 1
        if rows:
            await self._publish(raw, rows)
            self.republished += len(rows)
        return max(len(rows), 1)

    async def _publish(self, raw: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Sends rows (topic, stream, seq, key, payload, headers, created_at) in stream order, one
        record batch per stream at a time, and records where each batch landed."""
        by_stream: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        for r in rows:
            by_stream.setdefault((r[0], r[1]), []).append(r)
        pending = {s: sorted(items, key=lambda r: r[2]) for s, items in by_stream.items()}
        deliveries = []
        lost: set[str] = set()
        while pending:
            sends = []
            for (topic, stream), items in list(pending.items()):
                full = self._prefix + topic
                partition = await self._target_partition(full, stream, items[0][3])
                batch = self._producer.create_batch()
                n = 0
                ours = (("rf-epoch", self.epoch), ("rf-stream", str(stream).encode()))
                for r in items:
                    headers = [(k, str(v).encode()) for k, v in orjson.loads(r[5]).items()]
                    headers += ours
                    headers.append(("rf-seq", str(r[2]).encode()))
                    if batch.append(timestamp=None, key=r[3], value=r[4], headers=headers) is None:
                        if n == 0:
                            raise ValueError(f"outbox row {topic}/{stream}/{r[2]} is larger than a record batch")
                        break
                    n += 1
                sends.append(((topic, stream, partition), items[:n],
                              await self._producer.send_batch(batch, full, partition=partition)))
                if n == len(items):
                    del pending[(topic, stream)]
                else:
                    pending[(topic, stream)] = items[n:]
            for (topic, stream, partition), items, future in sends:
                meta = await future
                before = self._ends.get((topic, partition))
                if before is not None and meta.offset < before[1]:
                    lost.add(topic)
                self._ends[(topic, partition)] = (meta.offset, meta.offset + len(items), stream, items[0][2])
                deliveries.append((topic, stream, items[0][2], items[-1][2], partition, meta.offset))
        await self._record(raw, deliveries)
        self.published += len(rows)
        self.last_published_at = time.monotonic()
        self.rate.add(len(rows))
        for topic in lost:
            await self._republish_topic(raw, topic, "a batch landed below an offset the topic already had")

    async def _record(self, raw: Any, deliveries: list[tuple[Any, ...]]) -> None:
        """Where each batch landed, and each stream's published position: a relay that dies before
        this publishes the same numbers again."""
        async with raw.transaction():
            # Not waited for on disk: a record lost in a crash only moves published_seq back, so
            # the log is published again from there and consumers absorb the repeats by rf-seq.
            await raw.execute("set local synchronous_commit = off")
            await raw.copy_records_to_table(
                "outbox_deliveries", records=deliveries,
                columns=["topic", "stream", "first_seq", "last_seq", "partition", "base_offset"])
            tops: dict[tuple[str, int], int] = {}
            for topic, stream, _first, last, _p, _o in deliveries:
                tops[(topic, stream)] = max(tops.get((topic, stream), 0), last)
            for key, last in tops.items():
                state = self._streams[key]
                state[1] = max(state[1], last)
            await raw.executemany("update outbox_streams set published_seq = $3 where topic = $1 and stream = $2",
                                  [(t, s, self._streams[(t, s)][1]) for (t, s) in tops])

    # ------------------------------------------------------------------ partitions

    async def _partitions_of(self, topic: str) -> list[int]:
        now = time.monotonic()
        cached = self._partitions.get(topic)
        if cached is None or now - cached[0] > 30:
            parts = await self._producer.partitions_for(topic)
            if not parts:
                raise TopicLost(topic)
            cached = (now, sorted(parts))
            self._partitions[topic] = cached
        return cached[1]

    async def _partition(self, topic: str, key: bytes | None) -> int:
        """Kafka's default partitioner (murmur2 of the key), so per-key order is what any Kafka
        client would give."""
        return self._key_partition(await self._partitions_of(topic), key)

    def _key_partition(self, partitions: list[int], key: bytes | None) -> int:
        if key is None:
            return partitions[int(time.monotonic() * 1000) % len(partitions)]
        h = self._hashes.get(key)
        if h is None:  # murmur2 is pure Python in aiokafka; account keys repeat, so keep their hashes
            if len(self._hashes) >= HASH_CACHE_SIZE:
                self._hashes.clear()
            h = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return partitions[h % len(partitions)]

    async def _target_partition(self, topic: str, stream: int, key: bytes | None) -> int:
        """A stream goes to the partition it is named after; if the topic now has fewer, to where
        its key falls (consumers recognise messages by stream and number, not by partition)."""
        partitions = await self._partitions_of(topic)
        if stream in partitions:
            return stream
        return await self._partition(topic, key)

    # ------------------------------------------------------------------ loss, retention

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._vacuum_every and self._moved_since_vacuum >= self._vacuum_every \
                and now - self._last_vacuum >= self.vacuum_interval_s:
            await self.vacuum_outbox()
        if now - self._last_check >= self._check_every:
            self._last_check = now
            await self._check_topics()
        if now - self._last_prune >= 60:
            self._last_prune = now
            await self.prune()

    async def _check_topics(self) -> None:
        """Whether each partition we published to still holds our last batch there; a topic that
        does not was lost or recreated: publish its log again. Runs every `check_every_s` (10 s by
        default) while the relay leads: one metadata request, one ListOffsets for the log starts and
        one for the ends, and for partitions whose end does not settle it one fetch of the record
        at our batch's base offset (at most one per partition per check).

        - topic gone, or the partition ends before our batch's base offset: lost.
        - the log starts past our batch: retention removed it. If the partition still ends at or
          past our batch's end, that is ageing out, not loss; if not, the log was cut: lost.
        - it ends short of our batch's end (an empty recreated partition ends at 0, which a batch
          at base 0 cannot tell by offsets alone; the embedded broker reports the end as the base
          offset of its last batch + 1, short of a batch of several records even when intact):
          the record at our base offset settles it. Ours (the same rf-epoch, rf-stream and the
          batch's first rf-seq) is intact; nothing there, or a record not ours, is lost."""
        if not self._ends:
            return
        probe = await self._probe_consumer()
        await probe._client.force_metadata_update()
        existing = await probe.topics()
        tps = [TopicPartition(self._prefix + t, p) for (t, p) in self._ends if self._prefix + t in existing]
        ends = await probe.end_offsets(tps) if tps else {}
        starts = await probe.beginning_offsets(tps) if tps else {}
        lost: dict[str, str] = {}
        unsure: dict[TopicPartition, tuple[str, int, int, int]] = {}
        for (topic, p), (base, end, stream, first) in sorted(self._ends.items()):
            tp = TopicPartition(self._prefix + topic, p)
            reported, start = ends.get(tp), starts.get(tp)
            if topic in lost:
                continue
            if self._prefix + topic not in existing:
                lost[topic] = "the topic is gone"
            elif reported is None or start is None:
                continue
            elif reported < base:
                lost[topic] = f"partition {p} ends at {reported}, before {base}"
            elif start > base:  # our batch is below the log start: aged out if the log goes on past it
                if reported < end:
                    lost[topic] = f"partition {p} holds {start}..{reported}, not our batch at {base}..{end}"
            elif reported < end:
                unsure[tp] = (topic, base, stream, first)
        if unsure:
            found = await self._records_at(probe, {tp: u[1] for tp, u in unsure.items() if u[0] not in lost})
            for tp, (topic, base, stream, first) in unsure.items():
                if topic in lost or tp not in found:  # not settled this time (see _records_at)
                    continue
                record = found[tp]
                if record is None:
                    lost[topic] = f"partition {tp.partition} holds nothing at offset {base}, where our batch began"
                elif not self._is_ours(record, base, stream, first):
                    lost[topic] = (f"partition {tp.partition} holds at offset {base} a record that is not our batch's "
                                   f"first (stream {stream}, seq {first})")
        if lost:
            raw = await self._raw()
            for topic, why in lost.items():
                await self._republish_topic(raw, topic, why)

    async def _records_at(self, probe: AIOKafkaConsumer, offsets: dict[TopicPartition, int],
                          timeout_s: float = 2.0) -> dict[TopicPartition, Any]:
        """The first record at or after each offset, one fetch per partition; None where the
        partition holds nothing there. A partition whose fetch brought nothing within the timeout
        counts as empty only if the broker also says it ends at or before that offset (else it is
        left out: a slow broker, asked again at the next check)."""
        if not offsets:
            return {}
        found: dict[TopicPartition, Any] = {}
        probe.assign(list(offsets))
        try:
            for tp, offset in offsets.items():
                probe.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            while len(found) < len(offsets) and (left := deadline - time.monotonic()) > 0:
                waiting = [tp for tp in offsets if tp not in found]
                for tp, records in (await probe.getmany(*waiting, timeout_ms=int(left * 1000), max_records=1)).items():
                    if records and tp not in found:
                        found[tp] = records[0]
        finally:
            probe.unsubscribe()  # stop the consumer fetching ahead
        missing = [tp for tp in offsets if tp not in found]
        if missing:
            ends = await probe.end_offsets(missing)
            for tp in missing:
                if ends.get(tp, offsets[tp] + 1) <= offsets[tp]:
                    found[tp] = None
                else:
                    log.warning("outbox.check_unsettled", topic=tp.topic, partition=tp.partition, offset=offsets[tp],
                                end=ends.get(tp))
        return found

    def _is_ours(self, record: Any, base: int, stream: int, first: int) -> bool:
        headers = dict(record.headers or ())
        return (record.offset == base and headers.get("rf-epoch") == self.epoch
                and headers.get("rf-stream") == str(stream).encode() and headers.get("rf-seq") == str(first).encode())

    async def _republish_topic(self, raw: Any, topic: str, why: str) -> None:
        self.topics_lost[topic] = self.topics_lost.get(topic, 0) + 1
        await self._ensure_topics_quietly([topic])
        self._partitions.pop(self._prefix + topic, None)
        rows = await raw.fetch("select stream, min(seq) as first from outbox_log where topic = $1 group by stream",
                               topic)
        firsts = {r["stream"]: r["first"] for r in rows}
        for (t, stream), state in self._streams.items():
            if t == topic:
                state[1] = min(state[1], firsts.get(stream, state[0]) - 1)
        for key in [k for k in self._ends if k[0] == topic]:
            del self._ends[key]
        await raw.executemany("update outbox_streams set published_seq = $3 where topic = $1 and stream = $2",
                              [(t, s, st[1]) for (t, s), st in self._streams.items() if t == topic])
        log.error("outbox.topic_lost", topic=topic, why=why, republishing=sum(
            st[0] - 1 - st[1] for (t, _s), st in self._streams.items() if t == topic))

    async def _probe_consumer(self) -> AIOKafkaConsumer:
        if self._probe is None:
            # Fetches at most one record batch per partition (the broker always returns the first).
            self._probe = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                           client_id="rentflow-relay-probe", max_partition_fetch_bytes=1)
            await self._probe.start()
        return self._probe

    async def _ensure_topics_quietly(self, topics: Iterable[str] | None = None) -> None:
        from rentflow_common.kafka import ensure_topics

        names = list(topics) if topics is not None else sorted({t for (t, _s) in self._streams})
        if not names:
            return
        try:
            await ensure_topics(self._bootstrap, self._partitions_default, names, prefix=self._prefix)
        except Exception as exc:
            log.warning("outbox.ensure_topics_failed", error=str(exc))

    async def vacuum_outbox(self) -> None:
        """Makes the space of the rows moved out of the outbox reusable. Every row lives there for
        milliseconds, but a deleted row's space is only reused after a VACUUM, and autovacuum looks
        at most once a minute (autovacuum_naptime): until then each new row lands on a new page,
        and the outbox grows by a page per ~7 rows, each page extended, dirtied and written out.
        Vacuumed every `vacuum_every_rows` moved rows (at most once a second) it stays a few
        pages that are reused in shared buffers. No table lock is waited for (skip_locked) or
        taken (no truncation): writers are never held up."""
        self._moved_since_vacuum = 0
        self._last_vacuum = time.monotonic()
        await (await self._raw()).execute("vacuum (skip_locked, truncate false) outbox")
        self.vacuums += 1

    async def prune(self) -> int:
        """Deletes published log rows, deliveries and inbox ids older than the retention window."""
        raw = await self._raw()
        cutoff = dt.datetime.now(dt.timezone.utc) - self._retention
        deleted = 0
        while True:
            n = int((await raw.execute(
                "delete from outbox_log where ctid = any(array(select l.ctid from outbox_log l "
                "join outbox_streams s using (topic, stream) where l.sequenced_at < $1 and l.seq <= s.published_seq "
                "limit 10000))", cutoff)).split()[-1])
            deleted += n
            if n < 10000:
                break
        await raw.execute("delete from outbox_deliveries where delivered_at < $1", cutoff)
        await raw.execute("delete from inbox where processed_at < $1", cutoff - dt.timedelta(days=1))
        return deleted
