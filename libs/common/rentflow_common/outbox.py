"""Transactional outbox and its relay. The outbox is the source of truth; the broker a
transport that can be refilled.

A service's units of work write their events straight into `outbox_log`, in the transaction of
the change that caused them, each numbered within its stream — (topic, stream), the stream being
murmur2(key) modulo the outbox's number of streams (`outbox_meta.streams`, the default partition
count: with as many partitions, a key lands where any Kafka client would put it). The numbers
come from a counter row per stream (`outbox_counters`) that the writing transaction keeps locked
until it commits, so within a stream a later number never commits before an earlier one: what
the relay can see of a stream is always a gapless prefix. The relay (one per service at a time:
the holder of an advisory lock) only reads the log past each stream's published position and
publishes it in that order with three headers: the outbox's `rf-epoch` (made once per service
database), `rf-stream` and `rf-seq`. Consumers record which sequence numbers of each stream they
have processed (rentflow_common.progress), in the transaction of their effects: a message
published twice — a retry, a replay, a republish after the broker lost a topic — is recognised
by its number, wherever and whenever it lands.

An event emitted twice (two rows with one event id) is numbered and published once: it is left
out before numbers are taken if the log already holds its id (within the retention window), and
the log's unique index on event_id is the backstop.

The log keeps published rows for a retention window (default 7 days) with where they landed
(`outbox_deliveries`: partition and base offset of each record batch). Republishing is moving a
stream's `published_seq` back: the relay then publishes the log again from there. It does so
by itself when a topic it publishes to was lost or recreated (a batch lands at an offset lower
than one it already had, or the topic is gone or shorter than what was delivered), and for
`rentflow replay --since`. Every insert into the log NOTIFYs the relay's connection at commit.

A row keeps its number: a relay that dies after the broker took a batch but before recording it
publishes the same numbers again. Within a stream the relay sends one record batch at a time,
so the broker holds each stream in order.

Upgrading from the relay-numbered outbox: the old `outbox` table becomes `outbox_legacy` and its
rows are numbered into the log by the migration (`migrate_legacy_outbox`), before this version
writes; the relay numbers any that a process of the old version still adds. `outbox` is now a
view of what is not yet published. Changing the number of streams: stop the service's writers
and let the relay publish everything first, else one key's events may sit in two streams."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from typing import Any, Iterable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
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

# The log, counters, streams, deliveries, consumer progress and dead letters (every service has them).
# Every statement is safe to run again: each service's migrations run the list as it is now.
TABLES_DDL = [
    # Before rows went straight into the log, they waited in a table `outbox` for the relay to number
    # them. That table becomes `outbox_legacy` (its rows are numbered into the log by the migration that
    # runs this list, `migrate_legacy_outbox`, and by the relay should an old process still write
    # there); the name `outbox` becomes a view of what is not yet published.
    """do $$ begin
        if exists (select 1 from pg_class where relname = 'outbox' and relkind = 'r'
                   and relnamespace = current_schema()::regnamespace) then
            alter table outbox add column if not exists event_id uuid;
            alter table outbox rename to outbox_legacy;
        end if;
    end $$""",
    """create table if not exists outbox_legacy (
        id bigserial primary key,
        topic text not null,
        key bytea,
        payload bytea not null,
        headers text not null default '{}',
        created_at timestamptz not null default now(),
        event_id uuid)""",
    INBOX_DDL,
    "create index if not exists inbox_processed_at on inbox (processed_at)",
    """create table if not exists outbox_meta (
        id int primary key default 1 check (id = 1),
        epoch uuid not null default gen_random_uuid())""",
    # streams per topic: a row's stream is murmur2(key) % streams, fixed when it is written
    "alter table outbox_meta add column if not exists streams int not null default 6 check (streams > 0)",
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
    # the producers' side: the next number of each stream, its row locked by the transaction that
    # takes numbers until it commits (rentflow_outbox_number)
    """create table if not exists outbox_counters (
        topic text not null,
        stream int not null,
        next_seq bigint not null,
        primary key (topic, stream))""",
    # the relay's side: how far each stream is published (next_seq: as far as the relay has seen)
    """create table if not exists outbox_streams (
        topic text not null,
        stream int not null,
        next_seq bigint not null,
        published_seq bigint not null default 0,
        primary key (topic, stream))""",
    # a log numbered by the relay before counters existed: its counters start after it
    """insert into outbox_counters (topic, stream, next_seq)
        select topic, stream, next_seq from outbox_streams on conflict do nothing""",
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
    # Numbers rows for the log in the caller's transaction (the caller then COPYs them in): the
    # counter rows of the streams it writes are locked (in one order) until the caller commits, so a
    # later number never commits before an earlier one; an event id already in the log (or twice in
    # the call) gets no number (null), so numbers stay gapless. Each statement of a plpgsql function
    # sees what committed before it began (read committed): once the locks are held, an event
    # committed by another transaction on the same stream is visible to the check. Returns each
    # row's stream and number, in the order given.
    "drop function if exists rentflow_outbox_append(text[], int[], bytea[], bytea[], text[], uuid[])",
    """create or replace function rentflow_outbox_number(p_topics text[], p_hashes int[], p_ids uuid[],
            out streams int[], out seqs bigint[]) language plpgsql as $$
        declare
            n_streams int;
        begin
            -- shared: the relay changes the number of streams only while no writer holds it (fit_streams)
            perform pg_advisory_xact_lock_shared(hashtext('rentflow-outbox-streams:' || current_schema()));
            select m.streams into n_streams from outbox_meta m where m.id = 1;
            insert into outbox_counters (topic, stream, next_seq)
                select distinct t, h % n_streams, 1 from unnest(p_topics, p_hashes) as u(t, h)
                order by 1, 2 on conflict do nothing;
            perform 1 from outbox_counters c
                where (c.topic, c.stream) in (select distinct t, h % n_streams from unnest(p_topics, p_hashes) as u(t, h))
                order by c.topic, c.stream for update;
            with u as (
                select t, h % n_streams as s, e, o,
                       e is null or (row_number() over (partition by e order by o) = 1
                                     and not exists (select 1 from outbox_log l where l.event_id = u.e)) as fresh
                from unnest(p_topics, p_hashes, p_ids) with ordinality as u(t, h, e, o)),
            numbered as (
                select u.o, u.s, case when u.fresh then c.next_seq - 1
                    + row_number() over (partition by u.t, u.s, u.fresh order by u.o) end as seq, u.t
                from u join outbox_counters c on c.topic = u.t and c.stream = u.s),
            bumped as (
                update outbox_counters c set next_seq = m.top + 1
                from (select t, s, max(seq) as top from numbered where seq is not null group by 1, 2) m
                where c.topic = m.t and c.stream = m.s)
            select array_agg(n.s order by n.o), array_agg(n.seq order by n.o) into streams, seqs from numbered n;
        end $$""",
    # Rows committed to the log wake the relay, in whichever process leads it: one notification per
    # statement, delivered when the transaction commits.
    """create or replace function rentflow_outbox_notify() returns trigger language plpgsql as $$
        begin perform pg_notify('rentflow_outbox_' || current_schema(), ''); return null; end $$""",
    "create or replace trigger outbox_log_notify after insert on outbox_log for each statement "
    "execute function rentflow_outbox_notify()",
    "create or replace trigger outbox_notify after insert on outbox_legacy for each statement "
    "execute function rentflow_outbox_notify()",
    # what is not yet published, as the relay's table of that name once held it
    """create or replace view outbox as
        select l.seq as id, l.topic, l.key, l.payload, l.headers, l.created_at, l.event_id
        from outbox_log l left join outbox_streams s using (topic, stream)
        where l.seq > coalesce(s.published_seq, 0)
        union all
        select id, topic, key, payload, headers, created_at, event_id from outbox_legacy""",
]


HASH_CACHE_SIZE = 50_000
_hashes: dict[bytes, int] = {}


def key_hash(key: bytes | None, event_id: uuid.UUID | None) -> int:
    """Kafka's default partitioner's hash of the key (murmur2, 31 bits): a row's stream is this
    modulo the outbox's streams, so with as many partitions as streams each key lands where any
    Kafka client would put it. A row without a key goes by its event id (else anywhere)."""
    if key is None:
        return (event_id.int if event_id is not None else random.getrandbits(64)) & 0x7FFFFFFF
    h = _hashes.get(key)
    if h is None:  # murmur2 is pure Python in aiokafka (~5 µs a key); account keys repeat, so keep their hashes
        if len(_hashes) >= HASH_CACHE_SIZE:
            _hashes.clear()
        h = _hashes[key] = murmur2(key) & 0x7FFFFFFF
    return h


NUMBER_SQL = "select streams, seqs from rentflow_outbox_number($1::text[], $2::int[], $3::uuid[])"
LOG_COLUMNS = ["topic", "stream", "seq", "key", "payload", "headers", "created_at", "event_id"]


async def _append(raw_conn: Any, topics: list[str], keys: list[bytes | None], payloads: list[bytes],
                  headers: list[str], ids: list[uuid.UUID | None]) -> int:
    """Numbers the rows (rentflow_outbox_number: locks their streams until the caller commits) and
    COPYs those that got a number into the log: two round trips, the rows' bytes sent once."""
    numbered = await raw_conn.fetchrow(NUMBER_SQL, topics, [key_hash(k, e) for k, e in zip(keys, ids)], ids)
    now = dt.datetime.now(dt.timezone.utc)
    records = [(t, s, q, k, p, h, now, e) for t, s, q, k, p, h, e
               in zip(topics, numbered["streams"], numbered["seqs"], keys, payloads, headers, ids) if q is not None]
    if records:
        await raw_conn.copy_records_to_table("outbox_log", records=records, columns=LOG_COLUMNS)
    return len(records)


async def enqueue(raw_conn: Any, rows: Sequence[OutboxRow]) -> None:
    """Adds rows to the log inside the caller's transaction (asyncpg connection), numbered per
    stream; an event id already in the log is left out. The streams' counters stay locked until
    the caller's transaction ends: call it last, just before commit (as UnitOfWork.commit does)."""
    if not rows:
        return
    dumps = orjson.dumps
    await _append(raw_conn, [r.topic for r in rows], [r.key.encode() if r.key is not None else None for r in rows],
                  [r.payload for r in rows], [dumps(r.headers).decode() for r in rows], [r.event_id for r in rows])


LEGACY_CLAIM_SQL = """
delete from outbox_legacy where id in (
    select id from outbox_legacy order by id limit $1 for update skip locked
) returning id, topic, key, payload, headers, event_id
"""


async def drain_legacy(raw_conn: Any, limit: int = 5000) -> int:
    """Numbers rows written to the old `outbox` table (now `outbox_legacy`) into the log, oldest
    first, in one transaction: at upgrade, and should a process of the old version still write
    there. Returns how many rows it took (0: none left)."""
    async with raw_conn.transaction():
        got = await raw_conn.fetch(LEGACY_CLAIM_SQL, limit)
        if not got:
            return 0
        got = sorted(got, key=lambda r: r["id"])
        await _append(raw_conn, [r["topic"] for r in got], [r["key"] for r in got], [r["payload"] for r in got],
                      [r["headers"] for r in got], [r["event_id"] for r in got])
    return len(got)


def migrate_legacy_outbox(connection: Any) -> int:
    """For a migration (a synchronous SQLAlchemy connection on asyncpg): numbers what waits in the
    old outbox table into the log, before any process of this version writes to it — so an
    account's events keep their order. Returns the rows moved."""
    from sqlalchemy.util import await_only

    raw = connection.connection.driver_connection  # the asyncpg connection, in the migration's transaction

    async def drain() -> int:
        moved = 0
        while True:
            got = await raw.fetch(LEGACY_CLAIM_SQL, 5000)
            if not got:
                return moved
            got = sorted(got, key=lambda r: r["id"])
            await _append(raw, [r["topic"] for r in got], [r["key"] for r in got], [r["payload"] for r in got],
                          [r["headers"] for r in got], [r["event_id"] for r in got])
            moved += len(got)

    return await_only(drain())


async def backlog(engine: AsyncEngine) -> dict[str, Any]:
    """Rows not yet published: waiting to be numbered, and numbered but not yet published; the
    age of the oldest; and about how many published rows the log keeps (the planner's estimate:
    counting them would read the whole log)."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        row = await raw.fetchrow(
            "select (select count(*) from outbox_legacy) as pending, "
            "(select min(created_at) from outbox_legacy) as oldest, "
            "(select coalesce(sum(c.next_seq - 1 - coalesce(s.published_seq, 0)), 0) from outbox_counters c "
            " left join outbox_streams s using (topic, stream)) as unpublished, "
            "(select min(l.created_at) from outbox_counters c left join outbox_streams s using (topic, stream) "
            " join outbox_log l on l.topic = c.topic and l.stream = c.stream "
            " and l.seq = coalesce(s.published_seq, 0) + 1) as oldest_unpublished, "
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





class TopicLost(Exception):
    """A topic the relay publishes to was lost or recreated."""


class OutboxRelay:
    """The only publisher of a service's events. See the module docstring."""

    def __init__(self, engine: AsyncEngine, producer: AIOKafkaProducer, *, bootstrap_servers: str,
                 topic_prefix: str = "", partitions: int = 6, batch_size: int = 2000,
                 retention: dt.timedelta = dt.timedelta(days=7), check_every_s: float = 10.0,
                 idle_wait_s: float = 30.0) -> None:
        self._prefix = topic_prefix
        self._engine = engine
        self._producer = producer
        self._bootstrap = bootstrap_servers
        self._partitions_default = partitions
        self._batch_size = batch_size
        self._retention = retention
        self._check_every = check_every_s
        self._idle_wait = idle_wait_s
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self.published = 0
        self.republished = 0
        self.topics_lost: dict[str, int] = {}
        self.leader = False
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.last_published_at: float | None = None  # monotonic
        self.rate = Rate()  # rows published per second over the last minute
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._conn: Any = None  # the leader's connection: holds the advisory lock
        self._schema = ""
        self.epoch = b""
        self.streams = partitions  # the outbox's streams per topic (outbox_meta.streams)
        self._streams: dict[tuple[str, int], list[int]] = {}  # (topic, stream) → [next_seq, published_seq]
        self._high: dict[tuple[str, int], int] = {}  # (topic, stream) → highest number ever published
        self._ends: dict[tuple[str, int], tuple[int, int]] = {}  # (topic, partition) → our last batch's (base, end)
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
            await self._drain_legacy(raw)
            await self._fit_streams(raw)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        if not self.leader:
            log.info("outbox.relay_leading", schema=self._schema)
        self.leader = True
        return True

    async def _drain_legacy(self, raw: Any) -> None:
        """Rows in the old outbox table (a process of the previous version still running): into the log."""
        if not await raw.fetchval("select exists (select 1 from outbox_legacy)"):
            return
        moved = 0
        while n := await drain_legacy(raw):
            moved += n
        if moved:
            log.warning("outbox.legacy_rows_numbered", rows=moved)

    async def _fit_streams(self, raw: Any) -> None:
        """Makes the outbox's number of streams the configured partition count (each stream then has
        a partition of its own), once everything written is published: between writers (who hold the
        streams lock shared), and with nothing left in the old streams, so no key has events waiting
        in two streams. A stream beyond the topic's partitions goes where each row's key falls, which
        is where the key's new stream goes: per-key order holds across the change."""
        if self.streams == self._partitions_default:
            return
        async with raw.transaction():
            await raw.execute("select pg_advisory_xact_lock(hashtext('rentflow-outbox-streams:' || current_schema()))")
            unpublished = await raw.fetchval(
                "select coalesce(sum(c.next_seq - 1 - coalesce(s.published_seq, 0)), 0) from outbox_counters c "
                "left join outbox_streams s using (topic, stream)")
            if unpublished:
                return  # again at the next check, once published
            await raw.execute("update outbox_meta set streams = $1 where id = 1", self._partitions_default)
        log.info("outbox.streams_changed", before=self.streams, after=self._partitions_default)
        self.streams = self._partitions_default

    async def _load(self, raw: Any) -> None:
        meta = await raw.fetchrow("select epoch, streams from outbox_meta where id = 1")
        self.epoch = str(meta["epoch"]).encode()
        self.streams = meta["streams"]
        self._streams = {(r["topic"], r["stream"]): [r["next_seq"], r["published_seq"]] for r in await raw.fetch(
            "select c.topic, c.stream, c.next_seq, coalesce(s.published_seq, 0) as published_seq "
            "from outbox_counters c left join outbox_streams s using (topic, stream)")}
        self._high = {k: max(self._high.get(k, 0), pub) for k, (_n, pub) in self._streams.items()}
        self._ends = {(r["topic"], r["partition"]): (r["base_offset"], r["base_offset"] + r["n"]) for r in await raw.fetch(
            "select distinct on (topic, partition) topic, partition, base_offset, last_seq - first_seq + 1 as n "
            "from outbox_deliveries order by topic, partition, base_offset desc")}

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
        """Publishes, in order, what each stream's log holds beyond its published position — new
        rows, and rows again after a failure, a replay or a lost topic (0 when there was nothing,
        or another instance's relay leads). Producers number rows into the log themselves
        (`enqueue`); the relay only reads it."""
        if not await self._lead():
            return 0
        raw = await self._raw()
        if self._reload:
            self._reload = False
            await self._load(raw)
        for r in await raw.fetch("select topic, stream, next_seq from outbox_counters"):
            state = self._streams.get((r["topic"], r["stream"]))
            if state is None:
                self._streams[(r["topic"], r["stream"])] = [r["next_seq"], 0]
            else:
                state[0] = r["next_seq"]
        behind = [s for s, (nxt, pub) in self._streams.items() if pub < nxt - 1]
        if not behind:
            return 0
        per_stream = max(100, self._batch_size // len(behind))
        topics, streams, after, upto = [], [], [], []
        for topic, stream in behind:
            nxt, pub = self._streams[(topic, stream)]
            topics.append(topic)
            streams.append(stream)
            after.append(pub)
            upto.append(nxt - 1)
        got = await raw.fetch(
            "select l.topic, l.stream, l.seq, l.key, l.payload, l.headers, l.created_at, l.event_id "
            "from unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[]) as u(t, s, lo, hi) "
            "cross join lateral (select * from outbox_log l where l.topic = u.t and l.stream = u.s "
            "and l.seq > u.lo and l.seq <= u.hi order by l.seq limit $5) l",
            topics, streams, after, upto, per_stream)
        rows = [tuple(r) for r in got]
        have = {(r[0], r[1]) for r in rows}
        for key in behind:  # nothing retained after the position (pruned): nothing to publish again
            if key not in have:
                state = self._streams[key]
                state[1] = state[0] - 1
        if not rows:
            return 1
        again = sum(1 for r in rows if r[2] <= self._high.get((r[0], r[1]), 0))
        await self._publish(raw, rows)
        self.republished += again
        return len(rows)

    async def _publish(self, raw: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Sends rows (topic, stream, seq, key, payload, headers, created_at) in stream order, one
        record batch per stream at a time, and records where each batch landed."""
        # a stream goes to the partition it is named after; if the topic has fewer, each row to where its key
        # falls (consumers recognise messages by stream and number, not by partition)
        by_stream: dict[tuple[str, int, int], list[tuple[Any, ...]]] = {}
        for r in rows:
            full = self._prefix + r[0]
            partitions = await self._partitions_of(full)
            partition = r[1] if r[1] in partitions else self._key_partition(partitions, r[3])
            by_stream.setdefault((r[0], r[1], partition), []).append(r)
        pending = {s: sorted(items, key=lambda r: r[2]) for s, items in by_stream.items()}
        deliveries = []
        lost: set[str] = set()
        while pending:
            sends = []
            for (topic, stream, partition), items in list(pending.items()):
                full = self._prefix + topic
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
                    del pending[(topic, stream, partition)]
                else:
                    pending[(topic, stream, partition)] = items[n:]
            for (topic, stream, partition), items, future in sends:
                meta = await future
                before = self._ends.get((topic, partition))
                if before is not None and meta.offset < before[1]:
                    lost.add(topic)
                self._ends[(topic, partition)] = (meta.offset, meta.offset + len(items))
                deliveries.append((topic, stream, items[0][2], items[-1][2], partition, meta.offset))
        await self._record(raw, deliveries)
        self.published += len(rows)
        self.last_published_at = time.monotonic()
        self.rate.add(len(rows))
        for topic in lost:
            await self._republish_topic(raw, topic, "a batch landed below an offset the topic already had")

    async def _record(self, raw: Any, deliveries: list[tuple[Any, ...]]) -> None:
        """Where each batch landed, and each stream's published position (a relay that dies before
        this publishes the same numbers again)."""
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
                self._high[key] = max(self._high.get(key, 0), last)
            await raw.executemany(
                "insert into outbox_streams (topic, stream, next_seq, published_seq) values ($1, $2, $3, $4) "
                "on conflict (topic, stream) do update set next_seq = excluded.next_seq, "
                "published_seq = excluded.published_seq",
                [(t, s, self._streams[(t, s)][0], self._streams[(t, s)][1]) for (t, s) in tops])

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

    def _key_partition(self, partitions: list[int], key: bytes | None) -> int:
        """Kafka's default partitioner (murmur2 of the key), so per-key order is what any Kafka
        client would give."""
        if key is None:
            return partitions[int(time.monotonic() * 1000) % len(partitions)]
        return partitions[key_hash(key, None) % len(partitions)]

    # ------------------------------------------------------------------ loss, retention

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_check >= self._check_every:
            self._last_check = now
            await self._check_topics()
            await self._drain_legacy(await self._raw())
            await self._fit_streams(await self._raw())
        if now - self._last_prune >= 60:
            self._last_prune = now
            await self.prune()

    async def _check_topics(self) -> None:
        """A topic missing, or ending before what we delivered to it, was lost: publish its log again."""
        if not self._ends:
            return
        probe = await self._probe_consumer()
        await probe._client.force_metadata_update()
        existing = await probe.topics()
        tps = [TopicPartition(self._prefix + t, p) for (t, p) in self._ends if self._prefix + t in existing]
        ends = await probe.end_offsets(tps) if tps else {}
        raw = await self._raw()
        for topic in sorted({t for (t, _p) in self._ends}):
            if self._prefix + topic not in existing:
                await self._republish_topic(raw, topic, "the topic is gone")
                continue
            for (t, p), (base, _end) in list(self._ends.items()):
                reported = ends.get(TopicPartition(self._prefix + t, p))
                # the embedded broker reports the first offset of its last batch, a real one the end:
                # either way, never less than the base offset of our last batch while the log survives
                if t == topic and reported is not None and reported < base:
                    await self._republish_topic(raw, topic, f"partition {p} ends at {reported}, before {base}")
                    break

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
            self._probe = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False,
                                           client_id="rentflow-relay-probe")
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
