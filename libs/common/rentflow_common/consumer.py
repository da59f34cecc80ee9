"""Batched, exactly-once-effect consumption: offsets are committed only after the database commit.

One FastStream batch subscriber per consumer group (manual ack). For each batch:
decode → one transaction {progress, handler effects, outbox rows} → commit → commit offsets.

What was processed is known by each message's stream and sequence number (headers the outbox
relay sets; rentflow_common.progress), recorded in the same transaction: redelivery, restarts,
replays and a republish after the broker lost a topic change nothing. A message without those
headers (published by hand, or by another producer) is recognised by its `event_id` instead
(the inbox table).

Handlers are registered per topic and receive `Msg(data, cause)` values, never the transport's
records; a batch's messages go to their handlers in the order the handlers were registered
(a handler registered for several topics gets their messages together, in fetch order).
A message's data is its topic's pydantic model, or for the topics a group names `fast` a msgspec
Struct of the same fields (rentflow_common.fastdecode), pydantic deciding whatever msgspec refuses.

A batch that keeps failing is written again in halves, down to the message that fails; a message
that keeps failing is dead-lettered: kept in `dead_letters` with its reason, published on
`dlq.<group>`, and the partition keeps moving. Later messages with the same key are parked behind
it (per-key order is kept); `retry()` handles the dead letter and then what is parked behind it, in
order. If even that cannot be written (the database is away), the batch is tried again until it can be,
holding everything behind it.

Pipelined: the subscriber decodes the next batches while a worker task has the last in the
database; batches that queued meanwhile are written together in one transaction (group commit).
For a group's `overlap` topics the next batch's handlers also run while the last commits, in a
transaction of their own that commits only after it (`_overlapped`). Batches commit strictly in the
order fetched, and each transaction's offsets are committed after it commits. `drain()` finishes the
batches in hand before the broker stops."""
from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from hashlib import sha1
from operator import attrgetter
from typing import Any, Awaitable, Callable, Collection, Mapping, NamedTuple, Sequence

import orjson
import structlog
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, Msg, OutboxRow
from rentflow_common.fastdecode import fast_decoder
from rentflow_common.inbox import claim_new
from rentflow_common.kafka import StaleAssignmentCheck, true_end_offsets
from rentflow_common.logging import get_logger
from rentflow_common.metrics import Rate
from rentflow_common.outbox import enqueue
from rentflow_common.progress import SeqSet, StreamKey, lock_progress, save_progress, save_progress_if
from rentflow_schemas import Envelope, derive_event_id, topic_spec

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Sequence[Msg[Any]]], Awaitable[None]]
UowFactory = Callable[..., UnitOfWork]


_tuple = tuple.__new__  # Item, Msg and Cause made per message without their __new__'s Python call

SESSION_TIMEOUT_MS = 6000
FETCHER_TIMEOUT_MS = 2000
DECODE_SLICE = 250
REWIND_EVERY_S = 60.0  # a partition is read again from its start at most this often (gaps, below)
# Fetches decoded ahead while the worker writes, and the most messages one transaction takes from them.
# A backlog is written in fewer, larger transactions: each statement's and commit's cost, and each
# outbox claim's, is spread over more messages. Against 4 and 10,000 (bench e2e, alternated in one
# sitting): ledger transactions of ~9,000 messages instead of ~6,000, reporting's ~4,700 instead of
# ~3,400, the stack's CPU 130-131 µs a payment instead of 138-142, push → posted 14,483 and 14,351/s
# instead of 13,056 and 13,010. At 3,000 a transaction it took 156-161 µs; 19 and 40,000 gained nothing.
QUEUED_FETCHES = 8
MAX_MERGED = 20_000
# The fewest messages a batch overlapping the one before it takes: a backlog's batches. A few messages at a
# time (a steady trickle) gain nothing by it, and their Python work held up the commit before them (bench
# e2e at 1,000/s: the commit-and-relay stage's p99 25-71 ms overlapped, 20-37 ms not).
OVERLAP_MIN = 1_000


class Item(NamedTuple):
    """One decoded message, as the consumer keeps it (handlers get `msg`)."""
    topic: str
    partition: int
    offset: int
    key: str | None
    stream: StreamKey | None  # None: not published by a rentflow outbox; recognised by event id
    seq: int
    event_id: uuid.UUID
    msg: Msg[Any]
    record: Any


_stream_of = attrgetter("stream")
_topic_of = attrgetter("topic")


@dataclass
class Decoded:
    """A fetched batch, decoded: what to write, what to dead-letter, and the offsets to commit after."""
    records: Sequence[Any]
    good: list[Item]
    bad: list[tuple[Any, str]]
    next_offsets: dict[TopicPartition, int]
    skipped: int = 0  # known duplicates, not decoded
    written: bool = False

    @staticmethod
    def merge(batches: "list[Decoded]") -> "Decoded":
        if len(batches) == 1:
            return batches[0]
        offsets: dict[TopicPartition, int] = {}
        for b in batches:  # in fetch order: later offsets of a partition win
            offsets.update(b.next_offsets)
        return Decoded([r for b in batches for r in b.records], [i for b in batches for i in b.good],
                       [x for b in batches for x in b.bad], offsets, sum(b.skipped for b in batches))


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    parked: int = 0
    contended: int = 0  # transactions tried again after PostgreSQL broke a deadlock with another writer
    rewinds: int = 0  # partitions read again from their start after a gap opened in a stream
    overlapped: int = 0  # batches written while the one before them committed
    overlap_given_up: int = 0  # batches started so, rolled back and written after it instead
    last_batch_at: dt.datetime | None = None
    last_commit_ok: float | None = None  # monotonic
    commit_failures: int = 0  # since the last commit that worked
    failing_since: float | None = None  # monotonic: batches cannot be written (database away)
    last_error: str | None = None
    per_topic: dict[str, int] = field(default_factory=dict)
    rate: Rate = field(default_factory=Rate)  # messages per second over the last minute


def _database_away(exc: BaseException) -> bool:
    """The database refused, dropped or is restarting: `_process_until_written` waits and retries."""
    from rentflow_common.service import database_unavailable  # service imports this module

    return database_unavailable(exc)


CONTENTION_RETRIES = 20
_CONTENTION_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _contention(exc: BaseException | None) -> bool:
    """PostgreSQL broke this transaction because of another's (a deadlock, a serialization conflict):
    the same work done again succeeds."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "sqlstate", None) in _CONTENTION_SQLSTATES:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


# What a consumer hands on of an envelope (Item, Msg): no handler sees the others.
ENVELOPE_READ = ("event_id", "occurred_at", "correlation_id", "data")


def envelope_reader(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(envelope_model(model))


@cache
def envelope_model(model: type[BaseModel]) -> type[BaseModel]:
    """A topic's envelope as its consumers read it, derived from Envelope[model]: the fields in
    ENVELOPE_READ with their own types and constraints (`data` the topic's model, validated whole,
    extra keys forbidden), the others (event_type, schema_version, producer, causation_id) skipped
    unread, not checked: each is a Python object made per message and dropped, ~1.2 µs of the 9 µs
    a validation costs here. A message without an id, a time, a correlation id or valid data is still
    undecodable, with the field named."""
    envelope = Envelope[model]  # type: ignore[valid-type]
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in envelope.model_fields.items() if n in ENVELOPE_READ}
    return create_model(envelope.__name__, __config__=ConfigDict(**{**envelope.model_config, "extra": "ignore"}),
                        **fields)


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Coroutines: FastStream runs a plain function listener in a worker thread."""

    def __init__(self, consumer: "BatchConsumer") -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.consumer._assigned(assigned)


def dlq_topic(group_id: str) -> str:
    return f"dlq.{group_id}"


class BatchConsumer:
    def __init__(self, broker: KafkaBroker, engine: AsyncEngine, *, group_id: str,
                 handlers: Mapping[str, Handler], uow: UowFactory | None = None, max_records: int = 2000,
                 batch_timeout_ms: int = 500, attempts: int = 3, topic_prefix: str = "",
                 max_merged: int = MAX_MERGED, fetch_max_wait_ms: int = 500, fast: Collection[str] = (),
                 overlap: Collection[str] = (), overlap_min: int = OVERLAP_MIN) -> None:
        """`fast`: topics whose handlers only read their events' attributes (and dispatch on
        `fastdecode.model_of(type(data))`): decoded by msgspec first when their model converts
        (`fast_topics`), their events then msgspec Structs; pydantic decides whatever msgspec refuses.

        `overlap`: topics whose handlers are safe beside another transaction of the same handlers that
        has not committed yet (as two members of the group are): a batch of at least `overlap_min` of
        only these starts while the one before it, also only these, commits (`_overlapped`)."""
        self._prefix = topic_prefix
        self._engine = engine
        self._uow = uow or (lambda **kw: UnitOfWork(engine, **kw))
        self.group_id = group_id
        self.topics = list(handlers)
        self._handlers = dict(handlers)
        self._attempts = attempts
        self._adapters = {t: envelope_reader(topic_spec(t).model) for t in self.topics}
        self._fast = {t: fast_decoder(envelope_model(topic_spec(t).model)) for t in self.topics if t in fast}
        self.fast_topics = frozenset(t for t, decoder in self._fast.items() if decoder is not None)
        self.stats = ConsumerStats()
        self._overlap = frozenset(overlap)
        self._overlap_min = overlap_min
        self._seen: dict[StreamKey, SeqSet] = {}  # what this member saw committed: skips repeats undecoded
        self._gapped: set[TopicPartition] = set()  # to read again from their start (_rewind)
        self._rewound_at: dict[TopicPartition, float] = {}
        self._reread_at: dict[TopicPartition, float] = {}  # read again from the start when past the end
        self._generation = -1  # the group's, as of this member's last join
        self._stale_check = StaleAssignmentCheck()
        self._max_merged = max_merged  # messages in one transaction when fetched batches queue up
        self._queue: asyncio.Queue[tuple[Decoded, Any]] = asyncio.Queue(maxsize=QUEUED_FETCHES)
        self._worker: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()  # each batch in hand, written by its own task
        self._taken_at: dict[asyncio.Task[None], float] = {}  # when each batch in hand was taken (monotonic)
        self._committing: asyncio.Task[None] | None = None  # the offset commit in flight (at most one)
        self._draining = False  # no new batches are taken
        self._closing = False  # the batch in hand is given up (not committed) if it cannot be written
        self.subscriber = broker.subscriber(
            *(topic_prefix + t for t in self.topics),
            group_id=topic_prefix + group_id,
            batch=True,
            max_records=max_records,
            batch_timeout_ms=batch_timeout_ms,  # getmany returns as soon as records are there: this is the idle wait
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            max_poll_interval_ms=10 * 60 * 1000,
            # Joining a group takes half the session timeout on the embedded broker (5 s at the
            # default 10 s, once per group at every start); 6 s is Kafka's smallest allowed, and a
            # member that died is noticed sooner.
            session_timeout_ms=SESSION_TIMEOUT_MS,
            # a third of the session, as Kafka advises: half the idle heartbeats of 1 s, and a
            # rebalance is noticed at the next one, within 2 s
            heartbeat_interval_ms=SESSION_TIMEOUT_MS // 3,
            fetch_max_wait_ms=fetch_max_wait_ms,
            # aiokafka's fetch task wakes on each answer, each consumed batch and each assignment change;
            # this only bounds its sleep between them (default 200 ms: 5 idle wake-ups a second)
            consumer_timeout_ms=FETCHER_TIMEOUT_MS,
            decoder=_fetch_of,
            parser=self._parse_batch,
            listener=_Assignments(self),
        )
        self.subscriber(self._on_batch)

    # ------------------------------------------------------------------ fetch side

    async def _parse_batch(self, records: tuple[Any, ...]) -> KafkaMessage:
        """A fetch (never empty) as FastStream's message, without its default parser's work per record
        (a headers dict and a body list, about 6% of reporting's time): `decode` reads each record
        itself. The consumer that fetched them comes from FastStream's own parser, as it does there."""
        parser = self.subscriber.parser
        first = records[0]
        return parser.msg_class(body=(), raw_message=records, consumer=parser._consumer,
                                message_id=f"{first.offset}-{records[-1].offset}-{first.timestamp}",
                                correlation_id=self.group_id)

    async def _on_batch(self, fetch: Any) -> None:  # a Fetch, passed on as it is (Any: not validated again)
        records, kafka_consumer = fetch
        if not isinstance(records, tuple):
            records = (records,)
        if not records or self._draining:
            return  # not committed: a stopping consumer leaves these to the next owner
        # in slices, letting the worker's database round trips go on in between: decoding a fetch of
        # 2,000 at once held the event loop ~25 ms, and each statement of the batch in the database
        # waited that long to be answered
        parts = [self.decode(records[:DECODE_SLICE])]
        for at in range(DECODE_SLICE, len(records), DECODE_SLICE):
            await asyncio.sleep(0)
            parts.append(self.decode(records[at:at + DECODE_SLICE]))
        decoded = Decoded.merge(parts)
        if self._draining:
            return  # stopping meanwhile: not committed, as above
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(), name=f"consumer-{self.group_id}")
        await self._queue.put((decoded, kafka_consumer))  # waits while the worker has one in hand

    def decode(self, records: Sequence[Any]) -> Decoded:
        """Each record validated by its topic's envelope reader (pydantic's validator called
        straight, without TypeAdapter's per-call Python; msgspec tried first for `fast_topics`); a
        record a member already saw committed (its stream and number) is skipped undecoded.

        A fetch comes partition by partition, each mostly one stream of one producer: what is the
        same along such a run (the topic without its prefix, the validator, the stream's key and what
        was seen of it) is worked out when the run starts, and a record whose relay headers repeat the
        last stream's (compared as they are on the wire) takes its key without parsing them."""
        good: list[Item] = []
        bad: list[tuple[Any, str]] = []
        next_offsets: dict[TopicPartition, int] = {}
        cut = len(self._prefix)
        skipped = 0
        seen_of = self._seen.get
        append = good.append
        raw_topic: str | None = None
        partition = offset = -1
        topic = ""
        validate: Any = None
        fast: Any = None
        fast_of = self._fast.get
        last_epoch = last_stream = None  # the relay headers of the run's stream, as fetched
        stream: StreamKey | None = None
        seen: SeqSet | None = None
        below = 0  # the seen set's end: every number from here on is new (no look-up in the set)
        for r in records:
            if r.partition != partition or r.topic != raw_topic:
                if raw_topic is not None:
                    next_offsets[TopicPartition(raw_topic, partition)] = offset + 1
                raw_topic, partition = r.topic, r.partition
                topic = raw_topic[cut:]
                validate = self._adapters[topic].validator.validate_json
                fast = fast_of(topic)
                last_epoch = last_stream = None
            offset = r.offset
            headers = r.headers or ()
            if (len(headers) >= 3 and headers[-2] == last_stream and headers[-3] == last_epoch
                    and headers[-1][0] == "rf-seq"):  # the run's stream again
                try:
                    seq = int(headers[-1][1])
                except ValueError:  # a garbled number: no stream, as _sequence says
                    stream, seq, seen, below, last_epoch, last_stream = None, 0, None, 0, None, None
            else:
                stream, seq = _sequence(topic, headers)
                seen = None if stream is None else seen_of(stream)
                below = seen.highs[-1] if seen is not None and seen.highs else 0
                if stream is not None and headers[-1][0] == "rf-seq" and headers[-2][0] == "rf-stream" \
                        and headers[-3][0] == "rf-epoch":  # in the relay's order: the next record may match
                    last_epoch, last_stream = headers[-3], headers[-2]
                else:
                    last_epoch = last_stream = None
            if seq < below and seen is not None and seq in seen:
                skipped += 1
                continue
            try:
                if fast is None:
                    env = validate(r.value)
                else:
                    try:
                        env = fast(r.value)
                    except Exception:  # noqa: BLE001 - any msgspec refusal: pydantic decides, with its reason
                        env = validate(r.value)
            except (ValidationError, ValueError) as exc:
                bad.append((r, f"undecodable {topic} message: {_undecodable(exc)}"))
                continue
            key = r.key
            event_id = env.event_id
            # replace: a key that is not UTF-8 (another producer's) must not raise out of decode, where
            # the whole fetch would go unwritten
            text = key.decode("utf-8", "replace") if key else None
            append(_tuple(Item, (topic, partition, offset, text, stream, seq, event_id,
                                 _tuple(Msg, (env.data, _tuple(Cause, (event_id, env.correlation_id)),
                                              env.occurred_at)), r)))
        if raw_topic is not None:
            next_offsets[TopicPartition(raw_topic, partition)] = offset + 1
        return Decoded(records, good, bad, next_offsets, skipped)

    # ------------------------------------------------------------------ write side

    async def _work(self) -> None:
        """Takes the queued batches as one (group commit) and starts its task; the next is taken once
        this one's handlers are done and its commit is under way (`_Batch.dispatched`), and the one
        before has finished: at most two batches in hand, one committing while the next is worked."""
        previous: _Batch | None = None
        while True:
            taken = [await self._queue.get()]
            # group commit: batches that queued while the last was written go in one transaction
            while not self._queue.empty() and sum(len(d.good) for d, _ in taken) < self._max_merged:
                taken.append(self._queue.get_nowait())
            batch = _Batch(Decoded.merge([d for d, _ in taken]), taken, previous, self._overlap)
            batch.task = asyncio.create_task(self._run(batch), name=f"batch-{self.group_id}")
            self._batches.add(batch.task)
            self._taken_at[batch.task] = time.monotonic()
            batch.task.add_done_callback(self._batch_done)
            await asyncio.wait([batch.dispatched, batch.task], return_when=asyncio.FIRST_COMPLETED)
            if previous is not None:
                await asyncio.wait([previous.task])
            previous = batch

    def _batch_done(self, task: "asyncio.Task[None]") -> None:
        self._batches.discard(task)
        self._taken_at.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self.stats.last_error = _short(task.exception())  # type: ignore[arg-type]
            log.error("consumer.batch_failed", group=self.group_id, error=self.stats.last_error)

    async def _run(self, batch: "_Batch") -> None:
        """Writes a batch (overlapping the one before when it can), then commits its offsets: in order,
        after the batch before has committed its own."""
        decoded, previous = batch.decoded, batch.previous
        try:
            if previous is not None and not previous.task.done() and batch.may_overlap(previous, self._overlap_min):
                await self._overlapped(batch, previous)
                batch.first_attempt(False)  # given up (settled already if written)
            if previous is not None:
                await asyncio.wait([previous.task])
                if not previous.decoded.written and self._closing:
                    return  # given up: not written, not committed
            if not decoded.written:
                await self._process_until_written(decoded, batch)
            if decoded.written:
                await self._commit_in_background(batch.taken[-1][1], decoded.next_offsets)
            if self._gapped:
                await self._rewind(batch.taken[-1][1])
        finally:
            batch.previous = None  # not a chain of every batch since the start
            batch.first_attempt(False)
            if not batch.dispatched.done():
                batch.dispatched.set_result(None)
            for _ in batch.taken:
                self._queue.task_done()

    async def _process_until_written(self, decoded: Decoded, batch: "_Batch | None" = None) -> None:
        delay = 0.5
        while not self._closing:
            try:
                await self.process(decoded, batch)
                decoded.written = True
                self.stats.failing_since = None
                return
            except Exception as exc:  # the database is away: this batch, and all behind it, wait
                self.stats.last_error = _short(exc)
                if self.stats.failing_since is None:
                    self.stats.failing_since = time.monotonic()
                log.error("consumer.batch_unprocessable", group=self.group_id, size=len(decoded.good),
                          error=self.stats.last_error, retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _rewind(self, kafka_consumer: Any) -> None:
        """Reads again from its start each partition where a stream's numbers jumped past some not
        seen. A relay publishes each stream in order to one partition, so a jump means the consumer
        was moved past them: the embedded broker, restarted empty, serves a fetch from a position of
        the old log as soon as the new one reaches it, and takes an offset commit from a member of
        the group it no longer knows. Read again, numbers already taken are skipped undecoded."""
        gapped, self._gapped = self._gapped, set()
        now = time.monotonic()
        assigned = kafka_consumer.assignment()
        for tp in sorted(gapped):
            if tp not in assigned or now - self._rewound_at.get(tp, -REWIND_EVERY_S) < REWIND_EVERY_S:
                continue  # another member's now (it starts from the group's offset), or rewound just now
            self._rewound_at[tp] = now
            self.stats.rewinds += 1
            log.warning("consumer.rewound", group=self.group_id, topic=tp.topic, partition=tp.partition)
            await kafka_consumer.seek_to_beginning(tp)

    def reread_past_the_end(self, kafka_consumer: Any) -> None:
        """Reads again from its start each partition whose next position is past the end its last fetch
        saw (called after an empty fetch: a member waiting so gets nothing). Kafka answers a fetch past
        the end with OffsetOutOfRange, and the reset policy (earliest) applies; the embedded broker, its
        log replaced by a restart, holds the fetch until the new log reaches that offset, which a
        republished log shorter than the old never does. A position can get there without this member
        joining again (a commit of the old log landing after the join, ends unreadable at the join:
        `_past_the_end`). Numbers already taken are skipped undecoded; at most once a REWIND_EVERY_S."""
        assignment = _assignment(kafka_consumer)
        for tp in assignment.tps if assignment is not None else ():
            state = assignment.state_value(tp)
            if not (state.has_valid_position and state.highwater is not None and state.position > state.highwater):
                continue
            now = time.monotonic()
            if now - self._reread_at.get(tp, -REWIND_EVERY_S) < REWIND_EVERY_S:
                continue
            self._reread_at[tp] = now  # its own: a gap found in what is read again is still read again
            log.warning("consumer.position_past_end", group=self.group_id, topic=tp.topic, partition=tp.partition,
                        position=state.position, end=state.highwater)
            self.stats.rewinds += 1
            kafka_consumer.seek(tp, 0)

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        """Reads from the start what is assigned after the embedded broker lost its logs (restarted
        empty), where the group's offsets can be of the old logs (it takes a commit in flight across the
        restart), past anything the new ones hold; numbers already taken are skipped undecoded.
        - A join whose generation is not above this member's last one: the coordinator forgot the group.
        - A member joining afresh cannot tell that: a partition whose group offset is past its end.
        An assignment other than the one this member computed as leader joins afresh (StaleAssignmentCheck)."""
        consumer = self.subscriber.consumer
        coordinator = consumer._coordinator
        generation = coordinator.generation
        self._stale_check.watch(coordinator)
        if await self._stale_check.rejoined(coordinator, assigned):
            log.warning("consumer.stale_assignment", group=self.group_id, generation=generation,
                        partitions=len(assigned))
            return
        forgotten = generation <= self._generation
        self._generation = generation
        if not assigned:
            return
        if forgotten:
            log.warning("consumer.group_forgotten", group=self.group_id, generation=generation, partitions=len(assigned))
            again = sorted(assigned)
        else:
            again = await self._past_the_end(consumer, sorted(assigned))
        self.stats.rewinds += len(again)
        for tp in again:
            consumer.seek(tp, 0)

    async def _past_the_end(self, consumer: Any, tps: list[TopicPartition]) -> list[TopicPartition]:
        """Partitions whose group offset is past their end. The embedded broker reports a partition's
        end short of it (its last batch's base + 1), so one only past that is read to its true end."""
        try:
            ends = await consumer.end_offsets(tps)
            committed = {tp: await consumer.committed(tp) for tp in tps}
            suspect = [tp for tp in tps if (committed[tp] or 0) > ends[tp]]
            if suspect:
                ends = await true_end_offsets(consumer._client._bootstrap_servers, suspect)
        except Exception as exc:  # the broker away: the fetches wait for it, and the gap check stays
            log.warning("consumer.ends_unknown", group=self.group_id, error=_short(exc))
            return []
        past = [tp for tp in suspect if committed[tp] > ends[tp]]
        for tp in past:
            log.warning("consumer.offset_past_end", group=self.group_id, topic=tp.topic, partition=tp.partition,
                        committed=committed[tp], end=ends[tp])
        return past

    async def _commit_in_background(self, kafka_consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        """The offsets committed while the next batch is written: a broker round trip off the path.
        Commits go in order, one at a time: this waits for the one before. (The database holds what
        was written; a commit lost to a crash or a rebalance only means a redelivery it absorbs.)"""
        if self._committing is not None:
            await self._committing
        self._committing = asyncio.create_task(self._commit(kafka_consumer, offsets))

    async def _commit(self, kafka_consumer: Any, offsets: dict[TopicPartition, int]) -> None:
        try:
            await kafka_consumer.commit(offsets)
            self.stats.last_commit_ok = time.monotonic()
            self.stats.commit_failures = 0
        except Exception as exc:  # redelivery follows, which the recorded progress absorbs
            self.stats.commit_failures += 1
            self.stats.last_error = f"offset commit failed: {_short(exc)}"
            log.warning("consumer.commit_failed", group=self.group_id, error=str(exc))

    async def drain(self, timeout: float = 30.0) -> None:
        """Stops taking batches and waits for those in hand to be written and committed."""
        self._draining = True
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            if self._committing is not None:
                await asyncio.wait_for(asyncio.shield(self._committing), timeout)
        except asyncio.TimeoutError:
            log.warning("consumer.drain_timeout", group=self.group_id, timeout_s=timeout)
        self._closing = True

    def oldest_batch_taken_at(self) -> float | None:
        """When the oldest batch in hand (taken, not yet written and committed) was taken (monotonic)."""
        return min(self._taken_at.values(), default=None)

    def reading(self) -> dict[str, dict[str, int | None]]:
        """Each partition assigned to this member: where it reads next and the end its last fetch saw
        (None: not known yet). A position past that end is a member waiting for a log that was replaced."""
        assignment = _assignment(getattr(self.subscriber, "consumer", None))
        reading = {}
        for tp in sorted(assignment.tps) if assignment is not None else ():
            state = assignment.state_value(tp)
            reading[f"{tp.topic}[{tp.partition}]"] = {
                "position": state.position if state.has_valid_position else None, "end": state.highwater}
        return reading

    async def close(self) -> None:
        self._draining = self._closing = True
        for task in (self._worker, *self._batches, self._committing):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    async def process(self, decoded: Decoded, batch: "_Batch | None" = None) -> None:
        """Dead-letters what cannot be decoded, then writes the batch (retried, then message by message).
        `batch`: the worker's, told when the first attempt's handlers are done and how it ended."""
        for r, reason in decoded.bad:
            await self._dead_letter_record(r, reason)
        decoded.bad = []  # written: a retry of this batch does not dead-letter them again
        self.stats.duplicates += decoded.skipped
        decoded.skipped = 0
        good = decoded.good
        if not good:
            return
        if len(good) == 1:  # its attempts once, as that message: dead-lettered if they fail
            await self._process_one(good[0], batch=batch)
            return
        if await self._write(good, batch=batch) is None:
            return
        # isolate the message that fails: the batch written again in halves, in order, a half that fails
        # halved again (tried once: the whole batch had its attempts) down to the one message, which has its
        # attempts and is dead-lettered; a poison message in a batch of n costs about 2·log2(n) transactions
        spans = [(len(good) // 2, len(good)), (0, len(good) // 2)]  # taken from the end: in order
        while spans:
            lo, hi = spans.pop()
            if lo == hi:
                continue
            if hi - lo == 1:
                await self._process_one(good[lo])
            elif await self._write(good[lo:hi], attempts=1) is not None:
                mid = (lo + hi) // 2
                spans += [(mid, hi), (lo, mid)]
                continue
            decoded.good = good[hi:]  # a retry after the database went away resumes here

    async def _process_batch(self, items: Sequence[Item], *, park: bool = True, batch: "_Batch | None" = None) -> None:
        if batch is not None and batch.first.done():
            batch = None  # an attempt after the first: nothing overlaps it
        async with self._uow(producer=self.group_id) as uow:
            raw = uow.raw
            streams = set(map(_stream_of, items))
            unsequenced = [i.event_id for i in items if i.stream is None] if None in streams else []
            streams.discard(None)
            sets = await lock_progress(raw, self.group_id, streams)
            missing = {key: s.missing() for key, s in sets.items()}
            new_ids = await claim_new(raw, unsequenced) if unsequenced else set()
            fresh = _fresh(items, sets, new_ids)
            parked = await self._parked_keys(raw, fresh) if park else set()
            if parked:
                for i in [i for i in fresh if i.key in parked]:
                    await self._store_dead_letter(uow, i.record, f"parked behind an open dead letter of key {i.key}",
                                                  i.event_id, status="parked")
                    self.stats.parked += 1
                fresh = [i for i in fresh if i.key not in parked]
            # before the handlers: the last of them hold account rows locked until the commit
            await save_progress(raw, self.group_id, sets)
            await self._dispatch(uow, fresh)
            if batch is not None:
                batch.handed_on(sets, parked=bool(parked) or not park)
            await uow.commit()
        if batch is not None:
            batch.first_attempt(True)
        self._committed(items, fresh, sets, missing)

    def _committed(self, items: Sequence[Item], fresh: Sequence[Item], sets: dict[StreamKey, SeqSet],
                   missing: dict[StreamKey, int]) -> None:
        for key, s in sets.items():
            self._seen[key] = s
        gaps = {key for key, s in sets.items() if s.missing() > missing[key]}
        if gaps:
            log.warning("consumer.gap", group=self.group_id, streams=[f"{k.topic}/{k.stream}" for k in sorted(gaps)],
                        missing={f"{k.topic}/{k.stream}": sets[k].missing() for k in sorted(gaps)})
            self._gapped |= {TopicPartition(self._prefix + i.topic, i.partition) for i in items if i.stream in gaps}
        self._count(items, len(items) - len(fresh))

    async def _overlapped(self, batch: "_Batch", previous: "_Batch") -> None:
        """Writes `batch` while `previous` commits (sets `decoded.written` if it did). Its handlers work
        beside `previous`'s transaction, as two members' would (PostgreSQL's locks order them where
        they touch the same rows); it commits only once `previous` committed at its first attempt, and
        records its progress only where the rows still hold what it started from: `previous`'s sets,
        else what this member last committed (`save_progress_if`). If `previous` did not commit, another
        member moved a stream, a key waits behind a dead letter or anything fails, it is rolled back and
        given up: the worker then writes it as any batch, after `previous`."""
        decoded = batch.decoded
        items = decoded.good
        base: dict[StreamKey, SeqSet] = {}
        for key in set(map(_stream_of, items)):
            known = None if key is None else previous.sets.get(key) or self._seen.get(key)
            if known is None:  # by event id (the inbox), or a stream this member has no progress of
                return
            base[key] = known
        expected = {key: s.flat() for key, s in base.items()}
        sets = {key: SeqSet(flat) for key, flat in expected.items()}
        missing = {key: s.missing() for key, s in sets.items()}
        fresh = _fresh(items, sets, set())
        why = None
        try:
            async with self._uow(producer=self.group_id) as uow:
                if await self._parked_keys(uow.raw, fresh):
                    why = "a key waits behind a dead letter"
                else:
                    await self._dispatch(uow, fresh)
                    batch.handed_on(sets, parked=False)
                    if not await asyncio.shield(previous.first):
                        why = "the batch before did not commit"
                    elif not await save_progress_if(uow.raw, self.group_id, sets, expected):
                        why = "another member recorded progress of its streams"
                    else:
                        await uow.commit()
        except Exception as exc:  # the worker writes it again, with the consumer's attempts
            why = _short(exc)
        if why is not None:
            self.stats.overlap_given_up += 1
            log.info("consumer.overlap_given_up", group=self.group_id, size=len(items), reason=why)
            return
        batch.first_attempt(True)
        decoded.written = True
        self.stats.overlapped += 1
        self.stats.duplicates += decoded.skipped
        decoded.skipped = 0
        self.stats.failing_since = None
        self._committed(items, fresh, sets, missing)

    async def _dispatch(self, uow: UnitOfWork, items: Sequence[Item]) -> None:
        await dispatch(self._handlers, uow, [(i.topic, i.msg) for i in items])

    async def _parked_keys(self, raw: Any, items: Sequence[Item]) -> set[str]:
        """The keys of `items` waiting behind an open dead letter. Almost always none: one probe of
        the partial index first, and the batch's keys (an array of thousands to send and look up)
        only when the group has open dead letters at all."""
        if not items or not await raw.fetchval(
                "select exists (select from dead_letters where group_id = $1 and status in ('open', 'parked'))",
                self.group_id):
            return set()
        keys = list({i.key for i in items if i.key is not None})
        if not keys:
            return set()
        rows = await raw.fetch("select distinct key from dead_letters where group_id = $1 and key = any($2::text[]) "
                               "and status in ('open', 'parked')", self.group_id, keys)
        return {r["key"] for r in rows}

    async def _process_one(self, item: Item, *, batch: "_Batch | None" = None) -> None:
        cause = item.msg.cause
        with structlog.contextvars.bound_contextvars(correlation_id=cause.correlation_id, event_id=str(item.event_id)):
            error = await self._write([item], batch=batch)
            if error is not None:
                await self._dead_letter_item(item, f"handler failed: {error}")

    async def _write(self, items: Sequence[Item], attempts: int | None = None, *,
                     batch: "_Batch | None" = None) -> str | None:
        """Writes `items` in one transaction, tried up to `attempts` times (the consumer's by default): None
        once written, else the last error. The database away is raised (not the messages' fault: the
        caller waits for it); a transaction PostgreSQL chose to break a deadlock or a serialization
        conflict with another writer (another member's batch locking the same accounts) is tried again
        at once, up to CONTENTION_RETRIES times, without counting as a failed attempt."""
        attempt = contended = 0
        while True:
            try:
                await self._process_batch(items, batch=batch)
                return None
            except Exception as exc:
                if batch is not None:
                    batch.first_attempt(False)
                if _database_away(exc):
                    raise
                if _contention(exc) and contended < CONTENTION_RETRIES:
                    contended += 1
                    self.stats.contended += 1
                    log.info("consumer.contended", group=self.group_id, size=len(items), error=_short(exc))
                    await asyncio.sleep(random.uniform(0, 0.01 * contended))  # apart, not in step again
                    continue
                attempt += 1
                log.warning("consumer.write_failed", group=self.group_id, size=len(items), attempt=attempt,
                            error=_short(exc))
                if attempt >= (attempts or self._attempts):
                    return _short(exc)
                await asyncio.sleep(0.05 * 2**attempt)

    # ------------------------------------------------------------------ dead letters

    async def _dead_letter_record(self, record: Any, reason: str) -> None:
        topic = record.topic[len(self._prefix):]
        stream, seq = _sequence(topic, record.headers)
        item = Item(topic, record.partition, record.offset,
                    record.key.decode("utf-8", "replace") if record.key else None, stream, seq,
                    _event_id_of(record), None, record)  # type: ignore[arg-type]
        await self._dead_letter_item(item, reason)

    async def _dead_letter_item(self, item: Item, reason: str) -> None:
        """Keeps the message and why, marks it processed, and announces it on dlq.<group>, in one
        transaction; the partition moves on."""
        async with self._uow(producer=self.group_id) as uow:
            raw = uow.raw
            if item.stream is not None:
                sets = await lock_progress(raw, self.group_id, [item.stream])
                if item.seq in sets[item.stream]:
                    return
                sets[item.stream].add(item.seq)
                await save_progress(raw, self.group_id, sets)
            elif not await claim_new(raw, [item.event_id]):
                return
            await self._store_dead_letter(uow, item.record, reason, item.event_id, status="open")
            await uow.commit()
        self.stats.dead_letters += 1
        log.error("consumer.dead_lettered", group=self.group_id, topic=item.topic, partition=item.partition,
                  offset=item.offset, reason=reason)

    async def _store_dead_letter(self, uow: UnitOfWork, record: Any, reason: str, event_id: uuid.UUID | None,
                                 status: str) -> None:
        topic = record.topic[len(self._prefix):]
        key = record.key.decode("utf-8", "replace") if record.key else None
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        await uow.raw.execute(
            'insert into dead_letters (group_id, topic, partition, "offset", key, value, headers, event_id, reason, '
            "status) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            self.group_id, topic, record.partition, record.offset, key, record.value,
            orjson.dumps(headers).decode(), event_id, reason, status)
        if status != "open":
            return  # parked behind an open one of its key: announced only if it fails on its own
        try:
            message: Any = orjson.loads(record.value)
        except Exception:
            message = record.value.decode("utf-8", "replace") if record.value else None
        payload = orjson.dumps({"group_id": self.group_id, "topic": topic, "partition": record.partition,
                                "offset": record.offset, "key": key, "reason": reason, "status": status,
                                "message": message, "dead_lettered_at": dt.datetime.now(dt.timezone.utc).isoformat()})
        await enqueue(uow.raw, [OutboxRow(dlq_topic(self.group_id), key, payload, {"reason": reason[:200]})])

    async def retry(self, dead_letter_id: int, by: str) -> dict[str, Any]:
        """Handles an open dead letter now, then the messages parked behind it (same key), in order.
        Stops at the first that fails again, which stays (or becomes) the open one."""
        async with self._uow(producer=self.group_id) as uow:
            first = await uow.raw.fetchrow("select * from dead_letters where id = $1 and group_id = $2",
                                           dead_letter_id, self.group_id)
        if first is None:
            raise LookupError(f"no dead letter {dead_letter_id} in {self.group_id}")
        if first["status"] == "parked":
            raise ValueError(f"dead letter {dead_letter_id} is parked behind an earlier one of key {first['key']}: "
                             "retry that one")
        if first["status"] != "open":
            raise ValueError(f"dead letter {dead_letter_id} is already {first['status']}")
        rows = [first]
        if first["key"] is not None:
            async with self._uow(producer=self.group_id) as uow:
                rows += await uow.raw.fetch(
                    "select * from dead_letters where group_id = $1 and key = $2 and id > $3 and status = 'parked' "
                    "order by id", self.group_id, first["key"], first["id"])
        done: list[int] = []
        for row in rows:
            try:
                env = self._adapters[row["topic"]].validate_json(row["value"])
            except (KeyError, ValidationError, ValueError) as exc:
                return {"retried": done, "failed": row["id"], "reason": f"still undecodable: {_undecodable(exc)}"}
            msg = Msg(env.data, Cause(env.event_id, env.correlation_id), env.occurred_at)
            try:
                async with self._uow(producer=self.group_id, actor=by) as uow:
                    await self._dispatch(uow, [Item(row["topic"], row["partition"], row["offset"], row["key"], None,
                                                    0, env.event_id, msg, None)])
                    await uow.raw.execute("update dead_letters set status = 'retried', resolved_at = now(), "
                                          "resolved_by = $2 where id = $1", row["id"], by)
                    await uow.commit()
            except Exception as exc:
                async with self._uow(producer=self.group_id) as uow:
                    await uow.raw.execute("update dead_letters set status = 'open', reason = $2 where id = $1",
                                          row["id"], f"retry failed: {_short(exc)}")
                    await uow.commit()
                return {"retried": done, "failed": row["id"], "reason": _short(exc)}
            done.append(row["id"])
        return {"retried": done, "failed": None, "reason": None}

    def _count(self, items: Sequence[Item], duplicates: int) -> None:
        s = self.stats
        s.batches += 1
        s.messages += len(items)
        s.rate.add(len(items))
        s.duplicates += duplicates
        s.last_batch_at = dt.datetime.now(dt.timezone.utc)
        for topic, n in Counter(map(_topic_of, items)).items():
            s.per_topic[topic] = s.per_topic.get(topic, 0) + n


async def dispatch(handlers: Mapping[str, Handler], uow: Any, messages: Sequence[tuple[str, Any]]) -> None:
    """Hands each handler its messages (topic, msg), in fetch order, handlers in the order they were
    registered; a handler registered for several topics gets theirs together."""
    by_handler: dict[Handler, list[Any]] = {}
    last: str | None = None
    msgs: list[Any] = []
    for topic, msg in messages:
        if topic != last:  # a batch is runs of one topic: its handler's list is looked up once a run
            last, msgs = topic, by_handler.setdefault(handlers[topic], [])
        msgs.append(msg)
    for handler in dict.fromkeys(handlers.values()):
        given = by_handler.get(handler)
        if given:
            await handler(uow, given)


_STREAMS: dict[tuple[str, bytes, bytes], StreamKey] = {}  # (topic, epoch, stream) as on the wire → its key


def _stream_key(topic: str, epoch: bytes, stream: bytes) -> StreamKey:
    """The StreamKey of a record's headers, made once per stream rather than per record (a few
    streams carry every record; the map is emptied if an unusual run of epochs fills it)."""
    try:
        k = _STREAMS.get((topic, epoch, stream))
    except TypeError:  # header values that are not bytes (a bytearray is unhashable): made afresh
        return StreamKey(topic, epoch.decode(), int(stream))
    if k is None:
        if len(_STREAMS) > 10_000:
            _STREAMS.clear()
        k = _STREAMS[(topic, epoch, stream)] = StreamKey(topic, epoch.decode(), int(stream))
    return k


def _sequence(topic: str, headers: Sequence[tuple[str, bytes]] | None) -> tuple[StreamKey | None, int]:
    if headers and len(headers) >= 3:  # the relay puts them last, in this order
        (k1, epoch), (k2, stream), (k3, seq) = headers[-3:]
        if k1 == "rf-epoch" and k2 == "rf-stream" and k3 == "rf-seq":
            try:
                return _stream_key(topic, epoch, stream), int(seq)
            except ValueError:
                return None, 0
    epoch = stream = seq = None
    for k, v in headers or ():
        if k == "rf-seq":
            seq = v
        elif k == "rf-stream":
            stream = v
        elif k == "rf-epoch":
            epoch = v
    if seq is None or stream is None or epoch is None:
        return None, 0
    try:
        return _stream_key(topic, epoch, stream), int(seq)
    except ValueError:
        return None, 0


def _event_id_of(record: Any) -> uuid.UUID:
    """The id an undecodable message is recognised by: its header, else its content."""
    for k, v in record.headers or ():
        if k == "event_id":
            try:
                return uuid.UUID(v.decode())
            except ValueError:
                break
    return derive_event_id("undecodable", record.topic, sha1(record.value or b"").hexdigest())


def _fresh(items: Sequence[Item], sets: dict[StreamKey, SeqSet], new_ids: set[uuid.UUID]) -> list[Item]:
    """The items not processed before, their numbers taken into their streams' `sets`; an item without a
    stream is new if its event id is in `new_ids` (the inbox's claim), once."""
    fresh: list[Item] = []
    append = fresh.append
    last: StreamKey | None = None
    seqs = SeqSet()
    for i in items:  # a batch is runs of one stream: its set is looked up when the run starts
        stream = i.stream
        if stream is None:
            if i.event_id in new_ids:
                new_ids.discard(i.event_id)  # a repeat within the batch is a duplicate
                append(i)
            continue
        if stream is not last:
            last, seqs = stream, sets[stream]
        if seqs.take(i.seq):
            append(i)
    return fresh


class _Batch:
    """A batch the worker took (one transaction's worth), and what the batch after it needs of it to
    overlap it: when its handlers are done (`dispatched`), whether its first attempt committed
    (`first`), and the progress that attempt records (`sets`)."""

    __slots__ = ("decoded", "taken", "previous", "task", "dispatched", "first", "sets", "overlappable", "clean")

    def __init__(self, decoded: Decoded, taken: list[tuple[Decoded, Any]], previous: "_Batch | None",
                 overlap: frozenset[str]) -> None:
        self.decoded, self.taken, self.previous = decoded, taken, previous
        loop = asyncio.get_running_loop()
        self.dispatched: asyncio.Future[None] = loop.create_future()
        self.first: asyncio.Future[bool] = loop.create_future()
        self.sets: dict[StreamKey, SeqSet] = {}
        self.task: asyncio.Task[None]
        self.overlappable = bool(overlap) and bool(decoded.good) and not decoded.bad and all(
            i.topic in overlap for i in decoded.good)
        self.clean = False  # its first attempt parked nothing behind a dead letter

    def may_overlap(self, previous: "_Batch", fewest: int) -> bool:
        return (self.overlappable and len(self.decoded.good) >= fewest and previous.overlappable and previous.clean
                and not (previous.first.done() and not previous.first.result()))

    def handed_on(self, sets: dict[StreamKey, SeqSet], *, parked: bool) -> None:
        """Its first attempt's handlers are done: the next batch may start."""
        self.sets, self.clean = sets, not parked
        if not self.dispatched.done():
            self.dispatched.set_result(None)

    def first_attempt(self, committed: bool) -> None:
        if not self.first.done():
            self.first.set_result(committed)


class Fetch(NamedTuple):
    """What `_on_batch` is handed: the fetched records and the consumer to commit their offsets on."""
    records: Any
    consumer: Any


async def _fetch_of(msg: KafkaMessage) -> Fetch:
    """The batch handler's one argument, as the message's decoded body. Not a `KafkaMessage` parameter
    beside the body: FastStream resolves that from its Context, whose resolver is a plain function, and
    fast_depends runs a plain function in a worker thread, once per fetch (about 65 µs of CPU and a
    thread hop's wait each; a tenth of reporting's busy time in the e2e bench)."""
    return Fetch(msg.raw_message, msg.consumer)


def _assignment(kafka_consumer: Any) -> Any:
    """aiokafka's state of the partitions a member holds (positions, the ends fetches saw), or None."""
    subscription = kafka_consumer._subscription.subscription if kafka_consumer is not None else None
    return subscription.assignment if subscription is not None else None


def _undecodable(exc: BaseException) -> str:
    """Why a message did not validate, naming the fields (pydantic's own text names them only on
    its second line)."""
    if isinstance(exc, ValidationError):
        errors = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
                  for e in exc.errors(include_url=False, include_input=False)]
        return f"ValidationError: {'; '.join(errors)}"[:500]
    return _short(exc)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
