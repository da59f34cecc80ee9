"""Transactional outbox and its relay. The outbox is the source of truth; the broker a
transport that can be refilled.

A service's units of work add events to the outbox in the transaction of the change that caused
them: each written once, into `outbox_events`, as one batch per commit with a marker in
`outbox_pending`. The relay (one per service at a time: the holder of an advisory lock) claims
pending batches (a batch committed in its own process while it leads is handed to it at commit,
`committed`, and not read back), numbers their events within their stream — (topic, partition) —
recording one `outbox_numbers` row per stream and claim (the numbers and the events they name), and then
publishes them in that order with three headers: the outbox's `rf-epoch` (made once per service
database), `rf-stream` and `rf-seq`. Consumers record which sequence numbers of each stream
they have processed (rentflow_common.progress), in the transaction of their effects: a message
published twice — a retry, a replay, a republish after the broker lost a topic — is recognised
by its number, wherever and whenever it lands. The views `outbox` (events waiting to be
numbered) and `outbox_log` (numbered events) show both as the tables of the first layout did.

An event emitted twice (two rows with one event id) is numbered and published once: the first
copy the relay claims is numbered, and a copy whose event id an already numbered batch holds
(outbox_events' event_id index, within the retention window) is dropped, for every consumer
group at once.

The outbox keeps numbered events for a retention window (default 7 days) with where they landed
(`outbox_deliveries`: partition and base offset of each record batch). Republishing is moving a
stream's `published_seq` back: the relay then publishes its numbered events again from there.
It does so by itself when a topic it publishes to was lost or recreated (a batch lands at an
offset lower than one it already had, or the topic is gone or shorter than what was delivered),
and for `rentflow replay --since`.

An event is numbered before it is published and keeps its number: a relay that dies after the
broker took a batch but before recording it publishes the same numbers again. Within a stream
the relay sends one record batch at a time, so the broker holds each stream in order."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import random
import time
from typing import Any, Callable, Iterable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition, codec
from aiokafka.errors import KafkaError
from rentflow_common.partitioning import murmur2
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.events import OutboxRow
from rentflow_common.kafka import METADATA_MAX_AGE_MS, use_in_record_batches
from rentflow_common.logging import get_logger
from rentflow_common.metrics import Rate

log = get_logger(__name__)

__all__ = ["OutboxRow", "OutboxRelay", "enqueue", "backlog", "make_producer", "request_replay", "TABLES_DDL",
           "upgrade_outbox"]

# The outbox of the first migrations (one row per event, moved into `outbox_log` when numbered);
# TABLES_DDL converts it to the layout below.
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

# An event's place in the outbox: (batch, n) as one bigint, batch << REF_BITS | n.
REF_BITS = 24
REF_MASK = (1 << REF_BITS) - 1

# Turns the first layout (`outbox` and `outbox_log` tables) into the one below, keeping every row:
# pending rows become one pending batch, the retained log becomes numbered events (one numbering
# row per run of a stream numbered together) under the numbers they had. Does nothing once done.
CONVERT_LEGACY_SQL = """
do $$
declare
    pending_batch bigint;
    total bigint;
    chunks bigint[];
begin
    if exists (select 1 from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
               where ns.nspname = current_schema() and c.relname = 'outbox' and c.relkind = 'r') then
        alter table outbox add column if not exists event_id uuid;
        if exists (select 1 from outbox) then
            insert into outbox_pending (events, created_at) select count(*), min(created_at) from outbox
                returning batch into pending_batch;
            insert into outbox_events (batch, n, topic, key, payload, headers, created_at, event_id)
            select pending_batch, (row_number() over (order by id) - 1)::int, topic, key, payload, headers,
                   created_at, event_id from outbox;
        end if;
        drop table outbox;
    end if;
    if exists (select 1 from pg_class c join pg_namespace ns on ns.oid = c.relnamespace
               where ns.nspname = current_schema() and c.relname = 'outbox_log' and c.relkind = 'r') then
        select count(*) into total from outbox_log;
        if total > 0 then
            select array_agg(nextval('outbox_batch')) into chunks from generate_series(0, (total - 1) / 16777216);
            with ranked as (
                select l.*, row_number() over (order by topic, stream, seq) - 1 as k,
                       seq - row_number() over (partition by topic, stream, sequenced_at order by seq) as run
                from outbox_log l),
            placed as (
                select r.*, chunks[1 + k / 16777216] as batch, (k - (k / 16777216) * 16777216)::int as n
                from ranked r),
            moved as (
                insert into outbox_events (batch, n, topic, key, payload, headers, created_at, event_id)
                select batch, n, topic, key, payload, headers, created_at, event_id from placed)
            insert into outbox_numbers (topic, stream, first_seq, last_seq, refs, sequenced_at, min_batch)
            select topic, stream, min(seq), max(seq), array_agg(batch * 16777216 + n order by seq), sequenced_at,
                   min(batch)
            from placed group by topic, stream, sequenced_at, run;
        end if;
        drop table outbox_log;
    end if;
end $$
"""

# The streams, deliveries, consumer progress and dead letters, and the outbox (every service has
# them). Every statement is safe to run again: old migrations run this list too.
#
# Each event is written once, into outbox_events, keyed (batch, n): one `batch` per enqueue call
# (a unit of work's commit) and its position in the call. The call's marker in outbox_pending says
# the batch waits to be numbered. The relay numbers claimed batches and records one outbox_numbers
# row per stream it numbered into: its range of numbers and the events' refs in number order.
TABLES_DDL = [
    INBOX_DDL,
    "create index if not exists inbox_processed_at on inbox (processed_at)",
    """create table if not exists outbox_meta (
        id int primary key default 1 check (id = 1),
        epoch uuid not null default gen_random_uuid())""",
    "insert into outbox_meta (id) values (1) on conflict do nothing",
    "create sequence if not exists outbox_batch",
    """create table if not exists outbox_events (
        batch bigint not null,
        n int not null,
        topic text not null,
        key bytea,
        payload bytea not null,
        headers text not null default '{}',
        created_at timestamptz not null default now(),
        event_id uuid,
        primary key (batch, n))""",
    "create index if not exists outbox_events_event_id on outbox_events (event_id) where event_id is not null",
    """create table if not exists outbox_pending (
        batch bigint primary key default nextval('outbox_batch'),
        events int not null,
        created_at timestamptz not null default now())""",
    """create table if not exists outbox_numbers (
        topic text not null,
        stream int not null,
        first_seq bigint not null,
        last_seq bigint not null,
        refs bigint[] not null,
        sequenced_at timestamptz not null default now(),
        min_batch bigint not null,
        primary key (topic, stream, last_seq))""",
    "create index if not exists outbox_numbers_sequenced_at on outbox_numbers (sequenced_at)",
    # refs is stored out of line uncompressed: with a claim's refs (8 bytes an event, thousands a row)
    # through pglz, its numbering rows cost 0.3 µs of PostgreSQL's CPU an event, 0.1 without, for about
    # 4 bytes an event saved.
    "alter table outbox_numbers alter column refs set storage external",
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
    CONVERT_LEGACY_SQL,
    # What the first layout's tables held, as views: events waiting to be numbered (`delete from
    # outbox` deletes them; their marker is then skipped) and the numbered events.
    """create or replace view outbox as
        select batch * 16777216 + n as id, topic, key, payload, headers, created_at, event_id, batch, n
        from outbox_events where batch in (select batch from outbox_pending)""",
    """create or replace view outbox_log as
        select x.topic, x.stream, x.first_seq + r.i - 1 as seq, e.key, e.payload, e.headers, e.created_at,
               x.sequenced_at, e.event_id
        from outbox_numbers x cross join lateral unnest(x.refs) with ordinality as r(ref, i)
        join outbox_events e on e.batch = r.ref >> 24 and e.n = (r.ref & 16777215)::int""",
    # Batches committed to the outbox wake the relay, in whichever process leads it: one notification
    # per enqueue, delivered when the transaction commits.
    """create or replace function rentflow_outbox_notify() returns trigger language plpgsql as $$
        begin perform pg_notify('rentflow_outbox_' || current_schema(), ''); return null; end $$""",
    "create or replace trigger outbox_notify after insert on outbox_pending for each statement "
    "execute function rentflow_outbox_notify()",
    # Each statement deleting from outbox_events (through the view `outbox`, the retention prune's) or
    # truncating it takes a number, committed or not (a sequence is not transactional): a relay publishes
    # a batch it holds in memory without counting its events in the outbox only while no number was
    # taken since before the batch was handed to it (DELETES_SQL).
    "create sequence if not exists outbox_deletes",
    """create or replace function rentflow_outbox_deleted() returns trigger language plpgsql as $$
        begin perform nextval(format('%I.outbox_deletes', tg_table_schema)::regclass); return null; end $$""",
    "create or replace trigger outbox_events_deleted after delete or truncate on outbox_events for each statement "
    "execute function rentflow_outbox_deleted()",
]


def upgrade_outbox(execute: Callable[[str], Any]) -> None:
    """Creates the outbox's tables, converting the first layout's with their rows (a migration's
    `op.execute`, or any function that runs one statement)."""
    for ddl in TABLES_DDL:
        execute(ddl)


# A few events (a request's commit) go in one round trip: the marker and the events in one statement.
ENQUEUE_SQL = """
with marked as (insert into outbox_pending (events) values ($1) returning batch)
insert into outbox_events (batch, n, topic, key, payload, headers, event_id)
select m.batch, (u.n - 1)::int, u.topic, u.key, u.payload, u.headers, u.event_id
from marked m, unnest($2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::uuid[])
     with ordinality as u(topic, key, payload, headers, event_id, n)
"""
COPY_FROM_ROWS = 64  # more events than this: the marker, then one COPY


async def enqueue(raw_conn: Any, rows: Sequence[OutboxRow]) -> list[tuple[Any, ...]] | None:
    """Adds rows to the outbox inside the caller's transaction (asyncpg connection), set-based:
    one batch, its events written once. Returns the events of a batch written by COPY as written
    (EVENTS_SQL's columns), for `committed`; None for a few."""
    if not rows:
        return None
    if len(rows) > REF_MASK + 1:
        raise ValueError(f"{len(rows)} outbox rows in one call: at most {REF_MASK + 1}")
    if len(rows) <= COPY_FROM_ROWS:
        await raw_conn.execute(
            ENQUEUE_SQL, len(rows), [r.topic for r in rows],
            [r.key.encode() if r.key is not None else None for r in rows], [r.payload for r in rows],
            [orjson.dumps(r.headers).decode() for r in rows], [r.event_id for r in rows])
        return None
    batch = await raw_conn.fetchval("insert into outbox_pending (events) values ($1) returning batch", len(rows))
    records = [(batch, n, r.topic, r.key.encode() if r.key is not None else None, r.payload,
                orjson.dumps(r.headers).decode(), r.event_id) for n, r in enumerate(rows)]
    await raw_conn.copy_records_to_table(
        "outbox_events", records=records, columns=["batch", "n", "topic", "key", "payload", "headers", "event_id"])
    return records


# The relay leading in this process, by its engine: the batches this process commits on that engine
# are handed to it (`committed`), so it numbers and publishes them without reading their events back.
_LEADING: dict[Any, "OutboxRelay"] = {}
LOCAL_EVENTS = 20_000  # at most this many committed events held for the relay (the oldest are read back)


def committed(engine: Any, events: list[tuple[Any, ...]], rows: Sequence[OutboxRow]) -> None:
    """A batch `enqueue` wrote (its events as written) is about to be committed on `engine`: handed
    over before the COMMIT, as a claim sees the batch only once it is committed. Handed over after,
    a relay that claimed as the COMMIT returned read the batch back (4 of 14 in the ledger bench).
    `rows`, the OutboxRows given to `enqueue`: the relay takes their headers as dicts rather than
    parsing the JSON text written. `uncommitted` if the COMMIT fails."""
    relay = _LEADING.get(engine)
    if relay is not None:
        relay.keep(events, rows)


def uncommitted(engine: Any, events: list[tuple[Any, ...]]) -> None:
    """The COMMIT of a batch handed over by `committed` failed (or its outcome is unknown: a
    batch committed all the same is read back)."""
    relay = _LEADING.get(engine)
    if relay is not None:
        relay.forget(events[0][0])


# The next event to publish of each stream behind is the one at published_seq + 1 of its numbering row.
BACKLOG_SQL = f"""
select (select coalesce(sum(events), 0) from outbox_pending) as pending,
       (select min(created_at) from outbox_pending) as oldest,
       (select coalesce(sum(next_seq - 1 - published_seq), 0) from outbox_streams) as unpublished,
       (select min(e.created_at) from outbox_streams s
        join outbox_numbers x on x.topic = s.topic and x.stream = s.stream and x.last_seq > s.published_seq
             and x.first_seq <= s.published_seq + 1
        join outbox_events e on e.batch = x.refs[s.published_seq + 2 - x.first_seq] >> {REF_BITS}
             and e.n = (x.refs[s.published_seq + 2 - x.first_seq] & {REF_MASK})::int) as oldest_unpublished,
       (select greatest(reltuples, 0)::bigint from pg_class where oid = 'outbox_events'::regclass) as retained
"""


async def backlog(engine: AsyncEngine) -> dict[str, Any]:
    """Events not yet published: waiting to be numbered (as their batches' markers count them),
    and numbered but not yet published; the age of the oldest; and about how many events the
    outbox keeps (the planner's estimate: counting them would read them all)."""
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        row = await raw.fetchrow(BACKLOG_SQL)
    oldest = min([t for t in (row["oldest"], row["oldest_unpublished"]) if t is not None], default=None)
    age = (dt.datetime.now(dt.timezone.utc) - oldest).total_seconds() if oldest else 0.0
    return {"backlog": int(row["pending"]) + int(row["unpublished"]), "oldest_age_s": round(max(age, 0.0), 3),
            "retained": int(row["retained"])}


async def request_replay(raw: Any, since: dt.datetime, topics: Iterable[str] | None = None) -> dict[str, int]:
    """Moves the published position of every stream back to its first event numbered at or after
    `since` (of `topics`, or all), so the relay publishes them again, in the caller's transaction
    (`raw`: a unit of work's connection; the relay hears of it when that commits). Returns events per topic."""
    wanted = list(topics) if topics is not None else None
    rows = await raw.fetch(
        "select x.topic, x.stream, min(x.first_seq) as first, "
        "sum(greatest(0, least(x.last_seq, s.published_seq) - x.first_seq + 1)) as n "
        "from outbox_numbers x join outbox_streams s on s.topic = x.topic and s.stream = x.stream "
        "where x.sequenced_at >= $1 and ($2::text[] is null or x.topic = any($2::text[])) "
        "group by x.topic, x.stream", since, wanted)
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


ZSTD_LEVEL = 1


# aiokafka compresses zstd at level 3, with no setting for it (Kafka's compression.level, KIP-390). On
# a relay's batches of events, level 1 compresses in about half level 3's time, to a batch no larger
# (tests/test_outbox_compression.py checks the builders use it).
use_in_record_batches("zstd_encode", functools.partial(codec.zstd_encode, level=ZSTD_LEVEL))


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all; no idempotence: the embedded broker refuses it, and the relay's own numbering
    # makes a message sent twice harmless. zstd: a record batch of events is a seventh of its size
    # compressed, and the broker's work (and every reader's) goes with the bytes, not the records.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=0,
        max_batch_size=1024 * 1024,
        compression_type="zstd",
        request_timeout_ms=30000,
        metadata_max_age_ms=METADATA_MAX_AGE_MS,
    )


HASH_CACHE_SIZE = 50_000
CHECK_JITTER = 0.2  # each topic check comes this fraction of check_every_s early or late, at random
VACUUM_EVERY_ROWS = 10_000  # the relay vacuums outbox_pending after numbering this many events (vacuum_outbox)

# How many deleting statements outbox_events has seen (0 before the first).
DELETES_SQL = "select coalesce(pg_sequence_last_value('outbox_deletes'), 0)"

# Claims the oldest pending batches, about `$2` events of them (at least one batch), with DELETES_SQL's
# figure as the claim found it.
CLAIM_SQL = f"""
with oldest as (
    select batch, sum(events) over (order by batch) - events as before
    from outbox_pending order by batch limit $1)
select p.batch, ({DELETES_SQL}) as deletes from outbox_pending p join oldest o on o.batch = p.batch
where o.before < $2
order by p.batch for update of p skip locked
"""

# The claimed batches' events, in the order they were emitted.
EVENTS_SQL = ("select batch, n, topic, key, payload, headers, event_id from outbox_events "
              "where batch = any($1::bigint[]) order by batch, n")

# How many events each of these batches still has (a batch held in memory is published from there only
# when none of its events were deleted meanwhile: `delete from outbox` keeps them from being published).
# Asked only when something was deleted since a batch was handed over: counting reads every event.
COUNT_SQL = "select batch, count(*) from outbox_events where batch = any($1::bigint[]) group by batch"

# Which of these event ids a batch numbered earlier holds (a batch no longer pending, not one claimed),
# probing the event_id index once per id whatever the statistics say: outbox_events grows by a debit
# run's or an import's events at once, and until it is analysed the planner reads all of it per claim
# (measured on 500,000 unanalysed events: 165-300 ms a claim scanning, 3-10 ms probing). A lateral
# subquery with a limit is planned per id (it cannot become a join); as `event_id = any(...)` over the
# table, with outbox_pending vacuumed (known empty) and most events without an id, the planner read the
# whole table through its primary key (a merge anti join on batch: 12-46 ms a claim on 44,000 events).
NUMBERED_SQL = """
select u.event_id from unnest($1::uuid[]) as u(event_id)
cross join lateral (
    select from outbox_events e
    where e.event_id = u.event_id and e.batch <> all($2::bigint[])
      and not exists (select from outbox_pending p where p.batch = e.batch)
    limit 1) numbered
"""
NUMBERED_PLAN = "set local enable_seqscan = off; set local max_parallel_workers_per_gather = 0"

# Records one numbering row per stream (its numbers and its events' refs, a slice of the refs of
# the claim), deletes the claimed batches' markers and records the streams' next numbers.
NUMBER_SQL = """
with numbered as (
    insert into outbox_numbers (topic, stream, first_seq, last_seq, refs, min_batch)
    select u.topic, u.stream, u.first_seq, u.last_seq, ($5::bigint[])[u.lo:u.hi], u.min_batch
    from unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $6::int[], $7::int[], $8::bigint[])
         as u(topic, stream, first_seq, last_seq, lo, hi, min_batch)),
gone as (delete from outbox_pending where batch = any($9::bigint[])),
counted as (
    insert into outbox_streams (topic, stream, next_seq)
    select u.topic, u.stream, u.last_seq + 1
    from unnest($1::text[], $2::int[], $4::bigint[]) as u(topic, stream, last_seq)
    on conflict (topic, stream) do update set next_seq = excluded.next_seq)
select 1
"""

# Where each record batch landed (a row per batch) and each stream's published position: one
# statement, its own transaction (a relay round publishes to every partition of a topic; a COPY and
# an UPDATE per stream took five more round trips). Its commit is not waited for on disk
# (set_config's `true`: for this transaction only): a record lost in a crash only moves
# published_seq back, so the log is published again from there and consumers absorb the repeats
# by rf-seq.
RECORD_SQL = """
with delivered as (
    insert into outbox_deliveries (topic, stream, first_seq, last_seq, partition, base_offset)
    select * from unnest($1::text[], $2::int[], $3::bigint[], $4::bigint[], $5::int[], $6::bigint[])),
moved as (
    update outbox_streams s set published_seq = u.published_seq
    from unnest($7::text[], $8::int[], $9::bigint[]) as u(topic, stream, published_seq)
    where s.topic = u.topic and s.stream = u.stream)
select set_config('synchronous_commit', 'off', true)
"""

# Streams' published positions moved past numbered events no longer in the outbox.
SKIP_SQL = """
update outbox_streams s set published_seq = u.published_seq
from unnest($1::text[], $2::int[], $3::bigint[]) as u(topic, stream, published_seq)
where s.topic = u.topic and s.stream = u.stream and s.published_seq < u.published_seq
"""

# A stream's numbered events after a position, in order.
CATCH_UP_SQL = f"""
select x.topic, x.stream, x.first_seq + r.i - 1 as seq, e.key, e.payload, e.headers
from outbox_numbers x cross join lateral unnest(x.refs) with ordinality as r(ref, i)
join outbox_events e on e.batch = r.ref >> {REF_BITS} and e.n = (r.ref & {REF_MASK})::int
where x.topic = $1 and x.stream = $2 and x.last_seq > $3 and x.first_seq + r.i - 1 > $3
order by seq limit $4
"""


def _header_value(value: Any) -> bytes:
    """A header value that is not a string, as it is published once written to the outbox as JSON
    and read back: the same bytes whether the relay has the dict given to enqueue or the text."""
    return str(orjson.loads(orjson.dumps(value))).encode()


class TopicLost(Exception):
    """A topic the relay publishes to was lost or recreated."""


async def _cancelled(task: "asyncio.Task[Any] | None") -> None:
    """Cancels a task of the relay's (a topic check, a prune) and waits for it to end; what it raised
    is retrieved, so a failure of work no longer wanted is not logged as unhandled."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


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
        self._moved_since_vacuum = 0  # events claimed since the relay last vacuumed outbox_pending
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
        self._checking: asyncio.Task[tuple[dict[str, str], dict[str, int]]] | None = None  # the topic check under way
        self._pruning: asyncio.Task[None] | None = None  # the retention prune under way
        self.pruned = 0  # events deleted by the retention prune
        # batch → (its events as written, the OutboxRows they were written from, DELETES_SQL's figure
        # last seen when it was handed over), committed in this process while leading (`committed`)
        self._local: dict[int, tuple[list[tuple[Any, ...]], Sequence[OutboxRow], int | None]] = {}
        self._local_events = 0
        # DELETES_SQL's figure, read before whatever is handed over now: a deleting statement that could
        # see a batch handed over now (committed after) takes a higher number
        self._deletes: int | None = None
        self.read_back = 0  # events the relay read from the outbox to number (not held in memory)
        self.counted = 0  # events held in memory counted in the outbox (something was deleted meanwhile)

    # ------------------------------------------------------------------ running

    def wake(self) -> None:
        """Something was committed to the outbox in this process."""
        self._wake.set()

    def keep(self, events: list[tuple[Any, ...]], rows: Sequence[OutboxRow]) -> None:
        """Holds a batch committed in this process, and the OutboxRows it was written from, until a
        claim takes it (the oldest go past LOCAL_EVENTS: their claim reads them back)."""
        self._local[events[0][0]] = (events, rows, self._deletes)
        self._local_events += len(events)
        while self._local_events > LOCAL_EVENTS:
            self._local_events -= len(self._local.pop(next(iter(self._local)))[0])

    def forget(self, batch: int) -> None:
        held = self._local.pop(batch, None)
        if held is not None:
            self._local_events -= len(held[0])

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
                    self._partitions.clear()  # learnt again: a topic made again can have another count
                    if isinstance(exc, TopicLost):
                        await self._ensure_topics_quietly([exc.args[0][len(self._prefix):]])
                    elif isinstance(exc, KafkaError):
                        await self._ensure_topics_quietly()
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._release()  # and stops a topic check under way
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
        _LEADING[self._engine] = self
        if not self.leader:
            log.info("outbox.relay_leading", schema=self._schema)
        self.leader = True
        return True

    async def _load(self, raw: Any) -> None:
        self.epoch = str(await raw.fetchval("select epoch from outbox_meta where id = 1")).encode()
        self._deletes = await raw.fetchval(DELETES_SQL)
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
        await self._stop_check()
        await self._stop_prune()
        if _LEADING.get(self._engine) is self:
            del _LEADING[self._engine]
        self._local.clear()
        self._local_events = 0
        self._deletes = None
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
        """Publishes the numbered events of streams that are behind, else numbers and publishes
        the oldest pending batches, about `batch_size` events (0 when there was nothing, or
        another instance's relay leads)."""
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
            claimed = await raw.fetch(CLAIM_SQL, self._batch_size, self._batch_size)
            if not claimed:
                return 0
            batches = [r[0] for r in claimed]
            deletes = self._deletes = claimed[0][1]
            events, local_rows = await self._events(raw, batches, deletes)
            emitted = [r[6] for r in events if r[6] is not None]
            seen: set[Any] = set()
            if emitted:
                await raw.execute(NUMBERED_PLAN)
                seen = {r[0] for r in await raw.fetch(NUMBERED_SQL, emitted, batches)}
            partitions = {t: await self._partitions_of(self._prefix + t) for t in {r[2] for r in events}}
            numbered: dict[tuple[str, int], list[Any]] = {}  # (topic, stream) → [refs, min batch, first seq]
            rows = []
            for batch, n, topic, key, payload, headers, event_id in events:  # in (batch, n) order
                if event_id is not None:
                    if event_id in seen:  # emitted again: published once, whoever emitted it how often
                        self.duplicates_dropped += 1
                        continue
                    seen.add(event_id)
                stream = self._key_partition(partitions[topic], key)
                state = self._streams.get((topic, stream))
                if state is None:
                    state = self._streams[(topic, stream)] = [1, 0]
                got = numbered.get((topic, stream))
                if got is None:
                    got = numbered[(topic, stream)] = [[], batch, state[0]]
                got[0].append(batch << REF_BITS | n)
                given = local_rows.get(batch)  # its headers as a dict, not the JSON text written
                rows.append((topic, stream, state[0], key, payload, headers if given is None else given[n].headers))
                state[0] += 1
            refs: list[int] = []
            los, his = [], []
            for got in numbered.values():
                los.append(len(refs) + 1)
                refs += got[0]
                his.append(len(refs))
            keys = list(numbered)
            await raw.execute(
                NUMBER_SQL, [t for t, _s in keys], [s for _t, s in keys], [g[2] for g in numbered.values()],
                [g[2] + len(g[0]) - 1 for g in numbered.values()], refs, los, his,
                [g[1] for g in numbered.values()], batches)
            self._moved_since_vacuum += len(events)
            if not rows:
                return max(len(events), 1)
        await self._publish(raw, rows)
        return len(rows)

    async def _events(self, raw: Any, batches: list[int], deletes: int) -> tuple[Sequence[Any],
                                                                              dict[int, Sequence[OutboxRow]]]:
        """The claimed batches' events in (batch, n) order: those committed in this process from
        memory, when none were deleted since (certain when nothing was deleted since they were handed
        over: `deletes`, DELETES_SQL's figure as the claim found it, is what it was then); the others
        read back. With them, by batch, the OutboxRows the batches taken from memory were written from."""
        held = {b: self._local.pop(b) for b in batches if b in self._local}
        self._local_events -= sum(len(e) for e, _r, _d in held.values())
        unsure = {b for b, (_e, _r, seen) in held.items() if seen != deletes}
        if unsure:
            counts = dict(await raw.fetch(COUNT_SQL, list(unsure)))
            self.counted += sum(len(held[b][0]) for b in unsure)
            held = {b: e for b, e in held.items() if b not in unsure or counts.get(b) == len(e[0])}
        rest = [b for b in batches if b not in held]
        events: list[Any] = list(await raw.fetch(EVENTS_SQL, rest)) if rest else []
        self.read_back += len(events)
        if held:
            events += [e for b in held for e in held[b][0]]
            if rest:
                events.sort(key=lambda e: (e[0], e[1]))
        return events, {b: r for b, (_e, r, _d) in held.items()}

    async def _catch_up(self, raw: Any, behind: list[tuple[str, int]]) -> int:
        """Publishes the numbered events of streams whose published position is behind (after a
        failure, a replay or a lost topic), from that position, in order."""
        per_stream = max(100, self._batch_size // len(behind))
        rows: list[tuple[Any, ...]] = []
        gone: list[tuple[str, int, int]] = []  # (topic, stream, events) numbered, no longer there
        for topic, stream in behind:
            state = self._streams[(topic, stream)]
            got = await raw.fetch(CATCH_UP_SQL, topic, stream, state[1], per_stream)
            if got:
                rows += [tuple(r) for r in got]
            else:  # none retained after the position: deleted by hand, or pruned after a replay asked for them
                gone.append((topic, stream, state[0] - 1 - state[1]))
                state[1] = state[0] - 1
        if gone:  # recorded, or `backlog` counts them for ever and every relay's start looks for them again
            await raw.execute(SKIP_SQL, [t for t, _s, _n in gone], [s for _t, s, _n in gone],
                              [self._streams[(t, s)][1] for t, s, _n in gone])
            log.warning("outbox.numbered_events_missing", streams={f"{t}/{s}": n for t, s, n in gone},
                        hint="numbered, then deleted by hand or pruned after a replay: passed over")
        if rows:
            await self._publish(raw, rows)
            self.republished += len(rows)
        return max(len(rows), 1)

    async def _publish(self, raw: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Sends rows (topic, stream, seq, key, payload, headers), each stream's in seq order as both
        callers give them (numbered in that order, or read back ordered by seq), one record batch per
        stream at a time, and records where each batch landed."""
        pending: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
        for r in rows:
            pending.setdefault((r[0], r[1]), []).append(r)
        loads = orjson.loads
        deliveries = []
        lost: set[str] = set()
        while pending:
            sends = []
            for (topic, stream), items in list(pending.items()):
                full = self._prefix + topic
                partition = await self._target_partition(full, stream, items[0][3])
                batch = self._producer.create_batch()
                # its record batch builder's own append (C or Python: the same arguments), positional, the
                # batch's records at one timestamp: BatchBuilder.append's keywords and a clock read per
                # record were 9% of publishing an event (bench/relay.py)
                append = batch._builder.append
                at = int(time.time() * 1000)
                n = 0
                ours = (("rf-epoch", self.epoch), ("rf-stream", str(stream).encode()))
                for r in items:  # headers as written (JSON text), or as given to enqueue (a dict)
                    given = r[5]
                    headers = [(k, v.encode() if v.__class__ is str else _header_value(v))
                               for k, v in (given if given.__class__ is dict else loads(given)).items()]
                    headers += ours
                    headers.append(("rf-seq", b"%d" % r[2]))
                    if append(n, at, r[3], r[4], headers) is None:
                        if n == 0:
                            raise ValueError(f"outbox row {topic}/{stream}/{r[2]} is larger than a record batch")
                        break
                    n += 1
                batch._relative_offset = n  # what BatchBuilder.append counts
                batch.close()
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
        tops: dict[tuple[str, int], int] = {}
        for topic, stream, _first, last, _p, _o in deliveries:
            tops[(topic, stream)] = max(tops.get((topic, stream), 0), last)
        for key, last in tops.items():
            state = self._streams[key]
            state[1] = max(state[1], last)
        await raw.execute(RECORD_SQL, *[list(c) for c in zip(*deliveries)], [t for t, _s in tops],
                          [s for _t, s in tops], [self._streams[key][1] for key in tops])

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
        if h is None:  # account keys repeat: their hashes are kept (pure-Python murmur2 where murmurhash2 is missing)
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
        checking = self._checking
        if checking is not None and checking.done():
            self._checking = None
            await self._act_on_check(*checking.result())  # what the check raised is raised here, as it was
        elif checking is None and now - self._last_check >= self._check_every:
            # every 8-12 s (by default): the services of a stack start together, and their checks at one
            # moment made the steady bench's slow clusters (22-76 ms of each event loop at once)
            self._last_check = now + self._check_every * random.uniform(-CHECK_JITTER, CHECK_JITTER)
            # Asked of the broker beside the relay's rounds, not between them: a check takes a few
            # round trips and, on the embedded broker, a fetch held for the probe's fetch wait (0.1-0.8 s
            # measured), and every event committed meanwhile waited for it (the steady bench's
            # slowest 2% were all posted just after one). Done, it wakes the relay to act on it.
            self._checking = asyncio.create_task(self._find_lost(), name="outbox-topic-check")
            self._checking.add_done_callback(lambda _task: self._wake.set())
        if self._pruning is not None and self._pruning.done():
            self._pruning = None
        if self._pruning is None and now - self._last_prune >= 60:
            self._last_prune = now
            self._pruning = asyncio.create_task(self._prune_beside(), name="outbox-prune")

    async def _prune_beside(self) -> None:
        """The retention prune, on a connection of its own beside the relay's rounds: deleting what a
        busy day left a week ago takes seconds, and events committed meanwhile do not wait for it.
        It deletes only rows the relay no longer reads or writes (published, past the window)."""
        try:
            async with self._engine.connect() as conn:
                self.pruned += await self.prune((await conn.get_raw_connection()).driver_connection)
        except Exception as exc:  # tried again in a minute
            log.warning("outbox.prune_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    async def _stop_prune(self) -> None:
        """Cancels the retention prune under way, if any (leadership lost, or the relay stopping)."""
        task, self._pruning = self._pruning, None
        await _cancelled(task)

    async def _check_topics(self) -> None:
        """Whether each partition we published to still holds our last batch there; a topic that
        does not was lost or recreated: publish its log again. Runs about every `check_every_s` (10 s
        by default, CHECK_JITTER either way) while the relay leads: one metadata request, one
        ListOffsets for the log starts and one for the ends, and for partitions whose end does not
        settle it one fetch of the record at our batch's base offset (at most one per partition per
        check).

        - topic gone, or the partition ends before our batch's base offset: lost.
        - the log starts past our batch: retention removed it. If the partition still ends at or
          past our batch's end, that is ageing out, not loss; if not, the log was cut: lost.
        - it ends short of our batch's end (an empty recreated partition ends at 0, which a batch
          at base 0 cannot tell by offsets alone; the embedded broker reports the end as the base
          offset of its last batch + 1, short of a batch of several records even when intact):
          the record at our base offset settles it. Ours (the same rf-epoch, rf-stream and the
          batch's first rf-seq) is intact; nothing there, or a record not ours, is lost.

        The relay's loop runs the broker's part (`_find_lost`) in a task of its own while it goes on
        publishing, and acts on what it found at its next round."""
        await self._act_on_check(*await self._find_lost())

    async def _find_lost(self) -> tuple[dict[str, str], dict[str, int]]:
        """The broker's part of `_check_topics`: the topics lost (topic → why), and `topics_lost` as it
        was when the check began. Compares the broker with our last batches as they were when it
        began (the relay may publish more meanwhile, above them)."""
        ours = dict(self._ends)
        lost_before = dict(self.topics_lost)
        lost: dict[str, str] = {}
        if not ours:
            return lost, lost_before
        probe = await self._probe_consumer()
        await probe._client.force_metadata_update()
        existing = await probe.topics()
        listed = {t: probe.partitions_for_topic(self._prefix + t) or set() for (t, _p) in ours}
        tps = [TopicPartition(self._prefix + t, p) for (t, p) in ours if p in listed[t]]
        ends = await probe.end_offsets(tps) if tps else {}
        starts = await probe.beginning_offsets(tps) if tps else {}
        unsure: dict[TopicPartition, tuple[str, int, int, int]] = {}
        for (topic, p), (base, end, stream, first) in sorted(ours.items()):
            tp = TopicPartition(self._prefix + topic, p)
            reported, start = ends.get(tp), starts.get(tp)
            if topic in lost:
                continue
            if self._prefix + topic not in existing:
                lost[topic] = "the topic is gone"
            elif p not in listed[topic]:  # the embedded broker takes records there all the same; no one reads them
                lost[topic] = f"partition {p} is not listed (the topic has {len(listed[topic])})"
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
        return lost, lost_before

    async def _act_on_check(self, lost: dict[str, str], lost_before: dict[str, int]) -> None:
        """Publishes again each topic the check found lost, unless the relay did so since the check began."""
        if not lost:
            return
        raw = await self._raw()
        for topic, why in lost.items():
            if self.topics_lost.get(topic, 0) == lost_before.get(topic, 0):
                await self._republish_topic(raw, topic, why)

    async def _stop_check(self) -> None:
        """Cancels the topic check under way, if any (leadership lost, or the relay stopping)."""
        task, self._checking = self._checking, None
        await _cancelled(task)

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
        try:  # the producer's own view of the partitions, else it sends to those it knew before
            await self._producer.client.force_metadata_update()
        except Exception as exc:
            log.warning("outbox.metadata_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        rows = await raw.fetch("select stream, min(first_seq) as first from outbox_numbers where topic = $1 "
                               "group by stream", topic)
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
        """Makes the space of the deleted markers of numbered batches (outbox_pending) reusable.
        Every marker lives there for milliseconds, but a deleted row's space is only reused after
        a VACUUM, and autovacuum looks at most once a minute (autovacuum_naptime): until then each
        new marker lands on a new page, each page extended, dirtied and written out. Vacuumed every
        `vacuum_every_rows` numbered events (at most once a second) it stays a few pages that are
        reused in shared buffers. No table lock is waited for (skip_locked) or taken (no
        truncation): writers are never held up."""
        self._moved_since_vacuum = 0
        self._last_vacuum = time.monotonic()
        await (await self._raw()).execute("vacuum (skip_locked, truncate false) outbox_pending")
        self.vacuums += 1

    async def prune(self, raw: Any = None) -> int:
        """Deletes published numbering rows, deliveries and inbox ids older than the retention
        window, and the events older than it that no numbering row kept and no pending batch holds
        (those below the lowest batch either refers to), on `raw` (else the leader's connection).
        Returns the events deleted."""
        raw = raw if raw is not None else await self._raw()
        cutoff = dt.datetime.now(dt.timezone.utc) - self._retention
        await raw.execute(
            "delete from outbox_numbers x using outbox_streams s where s.topic = x.topic and s.stream = x.stream "
            "and x.sequenced_at < $1 and x.last_seq <= s.published_seq", cutoff)
        lowest = await raw.fetchval("select least((select min(min_batch) from outbox_numbers), "
                                    "(select min(batch) from outbox_pending))")
        deleted = 0
        while True:
            n = int((await raw.execute(
                "delete from outbox_events where ctid = any(array(select ctid from outbox_events "
                "where ($1::bigint is null or batch < $1) and created_at < $2 limit 10000))",
                lowest, cutoff)).split()[-1])
            deleted += n
            if n < 10000:
                break
        await raw.execute("delete from outbox_deliveries where delivered_at < $1", cutoff)
        await raw.execute("delete from inbox where processed_at < $1", cutoff - dt.timedelta(days=1))
        return deleted
