"""What every service process shares: migrations at start, the database engine, units of work,
the Kafka broker with its batch consumers, the outbox relay, `/health`, the ops routes
(`/v1/ops/status`, dead letters, replay), `/metrics` (Prometheus), and a clean stop on
SIGTERM/SIGINT (uvicorn's)."""
from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import os
import re
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from types import MethodType
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

import asyncpg
import rentflow_memory
import sqlalchemy.exc
import structlog
import uvicorn
from uvicorn.main import STARTUP_FAILURE
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi import Path as PathParam
from faststream.kafka import KafkaBroker
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.auth import (PRINCIPALS_DDL, Authenticator, Caller, OidcVerifier, annotate_openapi, public,
                                  require, take_users)
from rentflow_common.consumer import BatchConsumer, Handler
from rentflow_common.db import UnitOfWork, make_engine, ping
from rentflow_common.inputs import Text, in_years
from rentflow_common.kafka import METADATA_MAX_AGE_MS
from rentflow_common.logging import configure_logging, get_logger
from rentflow_common.metrics import CONTENT_TYPE, LagCache, RuntimeCollector
from rentflow_common.migrations import upgrade_async
from rentflow_common.outbox import OutboxRelay, backlog, make_producer, request_replay
from rentflow_common.progress import progress_report
from rentflow_common.settings import Settings
from rentflow_schemas import TOPICS

log = get_logger(__name__)

BROKER_CHECK_EVERY_S = 2.0
STUCK_AFTER_S = 30.0  # a consumer neither fetching nor writing this long, with nothing failing, is stuck (`stuck_for`)
EXIT_STUCK = 70  # the exit code of a process ended by its watchdog (EX_SOFTWARE)
OUTBOX_STALE_AFTER_S = 60.0  # unpublished events this old, with the relay not publishing, make it unhealthy
RELAY_PROGRESS_S = 30.0
DATABASE_RETRY_AFTER_S = 5  # what a caller is told to wait (Retry-After) while the database is away
_CORRELATION_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class ServiceRuntime:
    """Composition of one service's infrastructure; the service adds consumers and routes."""

    def __init__(self, name: str, migrations_dir: Path, settings: Settings | None = None, *,
                 pool_size: int = 8, migration_attributes: Mapping[str, Any] | None = None,
                 identity_table: str = "principals") -> None:
        self.name = name
        self.migration_attributes = dict(migration_attributes or {})
        self.on_start: list[Callable[[], Awaitable[None]]] = []  # checks run after migrations; raising stops the start
        self.settings = settings or Settings.from_env()
        self.migrations_dir = migrations_dir
        self.engine: AsyncEngine = make_engine(self.settings.database_url, schema=name, pool_size=pool_size,
                                               application_name=f"rentflow-{name}")
        self.broker = KafkaBroker(self.settings.kafka_bootstrap_servers, client_id=f"rentflow-{name}",
                                  acks="all", enable_idempotence=False, log_level=logging.DEBUG,
                                  graceful_timeout=30.0, metadata_max_age_ms=METADATA_MAX_AGE_MS)
        self.producer: AIOKafkaProducer | None = None  # made in start(): aiokafka needs the running loop
        self.relay: OutboxRelay | None = None
        self.consumers: list[BatchConsumer] = []
        self._relay_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        # how the watchdog ends a stuck service's process: `serve` sets it; a runtime in a test's or a bench's
        # process is never ended (its /health still says it is stuck)
        self.exit_process: Callable[[int], None] | None = None
        self.ready = False
        self.started_at: float | None = None
        self.lag = LagCache(self.settings.kafka_bootstrap_servers, self.settings.topic_prefix)
        self.metrics = RuntimeCollector(self)
        self._broker_ok: tuple[float, bool, str | None] = (0.0, False, "not checked yet")
        # who may call: notifications owns the users; every other service keeps their latest versions
        self.auth = Authenticator(self.engine, identity_table, OidcVerifier.from_settings(self.settings))
        # users, replicated into principals: by a group of their own (start()), or by the service's group
        # when it consumes with `with_users=True` (one group to join at start instead of two)
        self._users_pending = identity_table == "principals"

    def uow(self, *, correlation_id: str | None = None, actor: str | None = None, producer: str | None = None,
            role: str | None = None) -> UnitOfWork:
        """A unit of work of this service: its commit calls `committed`."""
        return UnitOfWork(self.engine, producer=producer or self.name, correlation_id=correlation_id, actor=actor,
                          role=role, on_commit=self.committed)

    def uow_for(self, request: Request, caller: Caller) -> UnitOfWork:
        """A unit of work for a request: its correlation id, and the caller as who acts."""
        return self.uow(correlation_id=correlation_id(request), actor=caller.name, role=caller.role_text)

    def committed(self, emitted: bool) -> None:
        """A unit of work committed: what it emitted wakes the relay (services add their workers)."""
        if emitted and self.relay is not None:
            self.relay.wake()

    def consume(self, group_id: str, handlers: Mapping[str, Handler], *, idle_wait_ms: int | None = None,
                busy_wait_ms: int | None = None, with_users: bool = False, **kw: Any) -> BatchConsumer:
        """Subscribes the group to the handlers' topics (topic → handler, in the order batches are
        handed to them); `busy_wait_ms` its fetch wait while messages come (default
        RENTFLOW_FETCH_MAX_WAIT_MS; groups off a payment's path pass RENTFLOW_BACKGROUND_FETCH_WAIT_MS)
        and `idle_wait_ms` once idle (default RENTFLOW_FETCH_IDLE_WAIT_MS; the ledger, on the path, passes
        RENTFLOW_PATH_FETCH_IDLE_WAIT_MS), at least RENTFLOW_FETCH_IDLE_WAIT_MS once quiet (QUIET_AFTER_S);
        `with_users` takes identity.users.v1 in this group too."""
        if with_users and self._users_pending:
            handlers = {**handlers, USERS_TOPIC: take_users}
        busy = busy_wait_ms or self.settings.fetch_max_wait_ms
        consumer = BatchConsumer(self.broker, self.engine, group_id=group_id, handlers=handlers,
                                 uow=lambda **k: self.uow(**{**k, "producer": self.name}),
                                 topic_prefix=self.settings.topic_prefix, fetch_max_wait_ms=busy, **kw)
        idle = max(busy, idle_wait_ms or self.settings.fetch_idle_wait_ms)
        _watch_fetches(consumer, busy, idle, max(idle, self.settings.fetch_idle_wait_ms))
        self.consumers.append(consumer)
        self.lag.groups[group_id] = list(handlers)
        return consumer

    async def start(self) -> None:
        if self._users_pending and not any(USERS_TOPIC in c.topics for c in self.consumers):
            # users change rarely: idle, this group looks every few seconds
            self.consume(f"{self.name}.principals", {USERS_TOPIC: take_users}, max_records=500,
                         idle_wait_ms=max(self.settings.fetch_idle_wait_ms, PRINCIPALS_IDLE_WAIT_MS))
        await upgrade_async(self.migrations_dir, self.settings.database_url, self.name, self.migration_attributes)
        await self.identity_tables()
        for check in self.on_start:
            await check()
        self.producer, self.relay = make_relay(self.settings, self.engine, self.name)
        await self.producer.start()
        self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.name}-outbox-relay")
        if self.consumers:
            await self.broker.start()
            if self.exit_process is not None:
                self._watchdog_task = asyncio.create_task(self._watch_stuck(), name=f"{self.name}-watchdog")
        tune_garbage_collector()
        self.ready = True
        self.started_at = time.monotonic()
        log.info("service.started", consumers=[c.group_id for c in self.consumers])

    async def identity_tables(self) -> None:
        """principals and audit_log, the same in every service (rentflow_common.auth, .audit), created
        idempotently under the service's migration lock."""
        from rentflow_common.audit import AUDIT_DDL

        async with UnitOfWork(self.engine) as uow:  # one transaction: the lock holds until the tables are made
            await uow.raw.execute("select pg_advisory_xact_lock(hashtext($1))", f"rentflow-migrate-{self.name}")
            for ddl in PRINCIPALS_DDL + AUDIT_DDL:
                await uow.raw.execute(ddl)
            await uow.commit()

    async def stop(self) -> None:
        self.ready = False
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()
        if self.consumers:
            for c in self.consumers:
                await c.drain()  # the batches in hand written and committed
            await self.broker.stop()
            for c in self.consumers:
                await c.close()
        if self.relay:
            self.relay.stop()
        if self._relay_task:
            try:
                await asyncio.wait_for(self._relay_task, timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._relay_task.cancel()
        if self.producer:
            await self.producer.stop()
        await self.engine.dispose()
        log.info("service.stopped")

    # ------------------------------------------------------------------ health

    async def broker_ok(self) -> tuple[bool, str | None]:
        """Whether the broker answers a metadata request (asked at most every 2 s)."""
        at, ok, error = self._broker_ok
        if time.monotonic() - at < BROKER_CHECK_EVERY_S or self.producer is None:
            return ok, error
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout=2.0)
            ok, error = True, None
        except (KafkaError, asyncio.TimeoutError, OSError) as exc:
            ok, error = False, f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
        self._broker_ok = (time.monotonic(), ok, error)
        return ok, error

    async def health(self) -> dict[str, Any]:
        """The truth about this process: database, broker, each consumer's progress, the outbox."""
        db_ok = await ping(self.engine)
        broker_ok, broker_error = await self.broker_ok()
        problems: list[str] = []
        if not self.ready:
            problems.append("starting or stopping")
        if not db_ok:
            problems.append("database unreachable")
        if not broker_ok:
            problems.append(f"broker unreachable ({broker_error})")
        outbox: dict[str, Any] = {}
        if db_ok:
            try:
                outbox = await backlog(self.engine)
            except Exception as exc:
                problems.append(f"outbox unreadable: {exc}")
        published_at = self.relay.last_published_at if self.relay else None
        progressing = published_at is not None and time.monotonic() - published_at < RELAY_PROGRESS_S
        if outbox.get("backlog") and outbox.get("oldest_age_s", 0) > OUTBOX_STALE_AFTER_S and not progressing:
            problems.append(f"outbox: {outbox['backlog']} events unpublished, the oldest {outbox['oldest_age_s']:.0f} s, "
                            "and nothing published for a while")
        if self.relay is not None and self.relay.last_error and self.relay.leader is False and outbox.get("backlog"):
            problems.append(f"outbox relay failing: {self.relay.last_error}")
        consumers = {}
        for group, members in consumer_groups(self.consumers).items():
            state = _group_health([self._consumer_health(c) for c in members])
            consumers[group] = state
            if not state["ok"]:
                problems.append(f"consumer {group}: {state['problem']}")
        return {"status": "ok" if not problems else "unavailable", "ready": self.ready, "database": db_ok,
                "broker": broker_ok, "outbox": outbox, "consumers": consumers, "problems": problems,
                "relay": {"leader": self.relay.leader if self.relay else False,
                          "last_error": self.relay.last_error if self.relay else None,
                          "topics_lost": self.relay.topics_lost if self.relay else {}}}

    async def _watch_stuck(self) -> None:
        """Ends the process (EXIT_STUCK) once a consumer has been stuck (`stuck_for`) for
        RENTFLOW_STUCK_EXIT_S: a stuck consumer cannot be drained, and its process started again reads
        what it had fetched again from its committed offsets (what was written is recognised by its
        progress). `rentflow up` starts it again, as a container's restart policy does."""
        limit = self.settings.stuck_exit_s
        while limit and self.exit_process is not None:
            await asyncio.sleep(min(10.0, limit / 4))
            found = stuck_past(self.consumers if self.ready else [], time.monotonic(), limit)
            if found is not None:
                c, stuck = found
                log.error("consumer.stuck_exiting", group=c.group_id, stuck_s=round(stuck), exit_code=EXIT_STUCK,
                          reading=c.reading(), last_error=c.stats.last_error)
                self.exit_process(EXIT_STUCK)
                return

    def _consumer_health(self, c: BatchConsumer) -> dict[str, Any]:
        s = c.stats
        now = time.monotonic()
        fetch = getattr(c, "fetch_state", None)
        problem = None
        stuck = stuck_for(c, now)
        if stuck is not None:
            problem = (f"stuck for {stuck:.0f} s: a batch in hand not written, or no fetch completed, and nothing "
                       f"failing")
        elif s.commit_failures >= 3:
            problem = f"cannot commit offsets ({s.last_error})"
        elif fetch is not None and fetch.failing_since is not None and now - fetch.failing_since > 5:
            problem = f"cannot fetch for {now - fetch.failing_since:.0f} s ({fetch.last_error})"
        elif s.failing_since is not None and now - s.failing_since > 5:
            problem = f"cannot write batches for {now - s.failing_since:.0f} s ({s.last_error})"
        return {"ok": problem is None, "problem": problem, "messages": s.messages, "dead_letters": s.dead_letters,
                "last_error": s.last_error,
                "last_fetch_ok_s_ago": round(now - fetch.last_ok, 1) if fetch and fetch.last_ok else None}

    async def status(self, with_lag: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "service": self.name,
            "ready": self.ready,
            "outbox": await backlog(self.engine),
            "outbox_published": self.relay.published if self.relay else 0,
            "outbox_republished": self.relay.republished if self.relay else 0,
            "outbox_published_per_s": self.relay.rate.per_second() if self.relay else 0.0,
            "topics_lost": self.relay.topics_lost if self.relay else {},
            "memory_kept": rentflow_memory.stats(),  # freed memory held for the next batches (`serve`)
            # a consumer stuck this long ends the process (None: this runtime's process is not ended)
            "stuck_exit_after_s": self.settings.stuck_exit_s if self._watchdog_task is not None else None,
            # one entry per group, its members in this process (RENTFLOW_LEDGER_CONSUMERS) summed
            "consumers": {group: {"topics": members[0].topics, **_stats(members),
                                  "reading": {tp: r for c in members for tp, r in c.reading().items()}}
                          for group, members in consumer_groups(self.consumers).items()},
        }
        doc["outbox_backlog"] = doc["outbox"]["backlog"]
        async with self.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            for group, entry in doc["consumers"].items():  # the group's, once, whatever its members
                entry["streams"] = await progress_report(raw, group)
                entry["missing"] = sum(s["missing"] for s in entry["streams"])
                entry["open_dead_letters"] = await raw.fetchval(
                    "select count(*) from dead_letters where group_id = $1 and status in ('open', 'parked')", group)
        if with_lag:
            rows = await self.lag.get()
            for group, entry in doc["consumers"].items():
                mine = [r for r in rows or [] if r.group == group]
                entry["lag"] = sum(r.lag for r in mine) if rows is not None else None
                entry["lag_by_topic"] = {t: sum(r.lag for r in mine if r.topic == t) for t in entry["topics"]} \
                    if rows is not None else None
                entry["partitions"] = [{"topic": r.topic, "partition": r.partition, "end_offset": r.end_offset,
                                        "committed": r.committed, "lag": r.lag} for r in mine]
        return doc

    def consumer(self, group_id: str) -> BatchConsumer:
        for c in self.consumers:
            if c.group_id == group_id:
                return c
        raise LookupError(f"{self.name} has no consumer group {group_id!r}")


IDLE_AFTER_S = 2.0
QUIET_AFTER_S = 30.0  # a consumer with nothing for this long fetches with its quiet wait (_watch_fetches)
IDLE_GETMANY_TIMEOUT_MS = 5000  # an idle consumer's empty wait for records (busy: its batch timeout, 500 ms)
USERS_TOPIC = "identity.users.v1"
PRINCIPALS_IDLE_WAIT_MS = 3000  # a user added, disabled or given a new token reaches an idle service within this


class _FetchState:
    __slots__ = ("last_ok", "failing_since", "last_error", "last_records", "idle", "wait_ms")

    def __init__(self, wait_ms: int) -> None:
        self.last_ok: float | None = None
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self.last_records = time.monotonic()
        self.idle = False  # nothing for IDLE_AFTER_S: fetching with the idle (then the quiet) wait
        self.wait_ms = wait_ms  # the fetch wait set in aiokafka's fetcher


def _watch_fetches(consumer: BatchConsumer, busy_wait_ms: int, idle_wait_ms: int,
                   quiet_wait_ms: int | None = None) -> None:
    """FastStream's batch subscriber logs a failed fetch and sleeps; it also sleeps a whole batch
    timeout after an empty fetch, which delays the next message by up to that long. This replaces
    its fetch with one that records success and failure (for /health) and does not sleep after an
    empty fetch (getmany itself waits, and returns as soon as records arrive).

    It also sets how long the broker holds each fetch: `busy_wait_ms` while messages come,
    `idle_wait_ms` once none came for IDLE_AFTER_S, and `quiet_wait_ms` (default: the idle wait)
    once none came for QUIET_AFTER_S, so an idle service does not poll the broker dozens of times
    a second; the first message sets the busy wait again (aiokafka reads the wait from its fetcher
    for every request). The ledger's short idle wait serves payments after a pause of up to half a
    minute; a quiet ledger fetches as seldom as the other groups.

    After an empty fetch, a partition whose position is past the log's end is read from its start
    (BatchConsumer.reread_past_the_end)."""
    sub = consumer.subscriber
    quiet_wait_ms = quiet_wait_ms or idle_wait_ms
    state = consumer.fetch_state = _FetchState(busy_wait_ms)  # type: ignore[attr-defined]

    async def get_msg(self: Any, kafka_consumer: Any) -> tuple[Any, ...]:
        # getmany returns as soon as records arrive: its timeout only bounds an empty wait, so an idle
        # consumer waits longer and its task wakes less often
        timeout_ms = IDLE_GETMANY_TIMEOUT_MS if state.idle else self.batch_timeout_ms
        try:
            messages = await kafka_consumer.getmany(timeout_ms=timeout_ms, max_records=self.max_records)
        except KafkaError as exc:
            if state.failing_since is None:
                state.failing_since = time.monotonic()
            state.last_error = f"{type(exc).__name__}: {exc}"[:200]
            raise
        now = state.last_ok = time.monotonic()
        state.failing_since = None
        if messages:
            state.last_records = now
        else:
            consumer.reread_past_the_end(kafka_consumer)
        quiet_s = now - state.last_records
        state.idle = quiet_s > IDLE_AFTER_S
        wait_ms = quiet_wait_ms if quiet_s > QUIET_AFTER_S else idle_wait_ms if state.idle else busy_wait_ms
        fetcher = getattr(kafka_consumer, "_fetcher", None)
        if wait_ms != state.wait_ms and fetcher is not None:
            fetcher._fetch_max_wait_ms = state.wait_ms = wait_ms
        return tuple(r for records in messages.values() for r in records)

    sub.get_msg = MethodType(get_msg, sub)


def make_relay(settings: Settings, engine: AsyncEngine, name: str) -> tuple[AIOKafkaProducer, OutboxRelay]:
    """A service's outbox relay and its producer (not started), as the service runs them."""
    producer = make_producer(settings.kafka_bootstrap_servers, f"rentflow-{name}-relay")
    return producer, OutboxRelay(engine, producer, bootstrap_servers=settings.kafka_bootstrap_servers,
                                 topic_prefix=settings.topic_prefix, partitions=settings.partitions,
                                 retention=settings.outbox_retention)


GC_YOUNG_THRESHOLD = 1_000_000


_gc_tuned = False


def tune_garbage_collector() -> None:
    """Everything alive once a service has started (modules, schemas, validators, the ORM) is
    moved out of the cyclic collector's reach, and young collections wait for 1,000,000 net new
    container objects instead of 700. The collector only finds cycles, and a batch makes almost
    none: what it scanned was the batches in flight, all alive (the ledger posting 100,000
    payments freed ~500 objects by collection). At 50,000 it still cost 12 µs per payment there
    (gen0 every ~1,000 payments, a 70 ms gen1 every ten), a fifth of the ledger's CPU; the
    batches in flight peak at ~450,000 objects, so 1,000,000 leaves collections to growth and
    real garbage (measured: 0.7 µs per payment). Reference counting still frees almost everything
    at once. Once per process (tests start many services in one)."""
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def stuck_for(consumer: Any, now: float) -> float | None:
    """How long a consumer has been stuck, or None: for over STUCK_AFTER_S a batch it took has been in
    hand unwritten, or it completed no fetch, while neither its fetches nor its writes failed (a broker
    or database away is reported as failing, and retried). A batch is written in a second or two, and a
    working consumer's fetch returns at least every IDLE_GETMANY_TIMEOUT_MS, or as soon as what it
    fetched is handed to its writer: one that does neither holds batches that are not being written."""
    fetch = getattr(consumer, "fetch_state", None)
    if consumer.stats.failing_since is not None or (fetch is not None and fetch.failing_since is not None):
        return None
    since = [t for t in (consumer.oldest_batch_taken_at(), fetch.last_ok if fetch is not None else None)
             if t is not None]
    quiet = now - min(since) if since else 0.0
    return quiet if quiet > STUCK_AFTER_S else None


def stuck_past(consumers: list[Any], now: float, limit: float) -> tuple[Any, float] | None:
    """The first consumer stuck (`stuck_for`) for `limit` seconds or more, and for how long."""
    for c in consumers:
        stuck = stuck_for(c, now)
        if stuck is not None and stuck >= limit:
            return c, stuck
    return None


def _exit_now(code: int) -> None:
    """Ends the process at once: nothing waits on the stuck consumer (what is logged is written first)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def consumer_groups(consumers: list[BatchConsumer]) -> dict[str, list[BatchConsumer]]:
    """The consumers by group, in the order registered: a group can have several members in one
    process (the ledger's RENTFLOW_LEDGER_CONSUMERS), each with its own partitions and counters."""
    groups: dict[str, list[BatchConsumer]] = {}
    for c in consumers:
        groups.setdefault(c.group_id, []).append(c)
    return groups


_SUMMED = ("batches", "messages", "duplicates", "dead_letters", "parked", "contended", "rewinds", "overlapped",
           "overlap_given_up")


def _stats(members: list[BatchConsumer]) -> dict[str, Any]:
    """A group's counters: its members' summed, the latest batch of any, and how many members."""
    stats = [c.stats for c in members]
    per_topic: dict[str, int] = {}
    for s in stats:
        for topic, n in s.per_topic.items():
            per_topic[topic] = per_topic.get(topic, 0) + n
    last = max((s.last_batch_at for s in stats if s.last_batch_at is not None), default=None)
    doc: dict[str, Any] = {k: sum(getattr(s, k) for s in stats) for k in _SUMMED}
    doc["messages_per_s"] = round(sum(s.rate.per_second() for s in stats), 2)
    return {**doc, "per_topic": per_topic, "last_batch_at": last.isoformat() if last else None,
            "members": len(members)}


def _group_health(states: list[dict[str, Any]]) -> dict[str, Any]:
    """A group's health from its members' (ServiceRuntime._consumer_health): ok only if every member
    is; the problem names the member when there are several; counters summed; the last error a
    failing member's (else any member's); the fetch that worked longest ago (None: one never did)."""
    if len(states) == 1:
        return {**states[0], "members": 1}
    failing = [(n, st) for n, st in enumerate(states, 1) if not st["ok"]]
    ages = [st["last_fetch_ok_s_ago"] for st in states]
    errors = [st["last_error"] for _, st in failing] + [st["last_error"] for st in states]
    return {"ok": not failing,
            "problem": "; ".join(f"member {n} of {len(states)}: {st['problem']}" for n, st in failing) or None,
            "messages": sum(st["messages"] for st in states), "dead_letters": sum(st["dead_letters"] for st in states),
            "last_error": next((e for e in errors if e), None),
            "last_fetch_ok_s_ago": None if None in ages else max(ages), "members": len(states)}


class CorrelationIdMiddleware:
    """X-Correlation-Id from the request (or a new uuid4), bound in structlog's contextvars for the
    request, kept in request.state.correlation_id and echoed on the response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = None
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                candidate = value.decode("latin-1")
                cid = candidate if _CORRELATION_ID.match(candidate) else None
                break
        cid = cid or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = cid
        echo = (b"x-correlation-id", cid.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=cid):
            await self.app(scope, receive, send_with_id)


def refuse_other(by: str | None, caller: Caller) -> None:
    """`by` in a body is no longer who acts (the token is); given and naming someone else, 403."""
    if by is not None and by.strip() and by.strip().casefold() != caller.name.casefold():
        raise HTTPException(403, f"by: {by.strip()!r} is not you ({caller.name}); who acts comes from the token")


def correlation_id(request: Request) -> str:
    """The request's correlation id (X-Correlation-Id, or one made for it)."""
    return getattr(request.state, "correlation_id", None) or str(uuid.uuid4())


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: Annotated[AwareDatetime, AfterValidator(in_years)] = Field(
        description="republish events numbered at or after this time")
    topics: list[Annotated[Text, Field(max_length=200)]] | None = Field(
        default=None, max_length=100, description="only these topics (default: every topic)")

    @field_validator("topics")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        unknown = sorted(set(value or ()) - set(TOPICS) - {t for t in value or () if t.startswith("dlq.")})
        if unknown:
            raise ValueError(f"unknown topics {unknown}; known: {sorted(TOPICS)}")
        return value


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: Annotated[Text, Field(max_length=200)] | None = Field(
        default=None, description="who retries (from the token once identity lands)")


def create_app(runtime: ServiceRuntime, *, title: str, description: str = "") -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, lifespan=lifespan, version="1.0.0")
    app.state.runtime = runtime
    app.add_middleware(CorrelationIdMiddleware)
    for cls in (OSError, sqlalchemy.exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(cls, _database_unavailable_handler)

    annotate_openapi(app)
    ops = [Depends(require("ops", "admin"))]
    ops_only = [Depends(require("ops"))]
    metrics_auth = [Depends(public)] if runtime.settings.metrics_open else ops_only

    @app.get("/health", tags=["ops"], dependencies=[Depends(public)],
             summary="200 when database, broker, consumers and outbox are well, else 503")
    async def health(response: Response) -> dict[str, Any]:
        doc = await runtime.health()
        response.status_code = 200 if doc["status"] == "ok" else 503
        return doc

    @app.get("/v1/whoami", tags=["ops"], summary="the caller as this service sees them: name, roles, patches, limits")
    async def whoami(caller: Caller = Depends(require())) -> dict[str, Any]:
        return {"user": caller.name, "roles": sorted(caller.roles), "patches": list(caller.patches),
                "approval_limits": dict(caller.limits), "via": caller.via, "service": runtime.name}

    @app.get("/v1/audit", tags=["audit"], dependencies=[Depends(require("admin"))],
             summary="this service's audit trail, oldest first: who, role, when, what, correlation id, before, after "
                     "(append-only: no route changes it)")
    async def audit_list(since: Annotated[Annotated[AwareDatetime, AfterValidator(in_years)] | None,
                                          Query(description="at or after this time")] = None,
                         user: Annotated[Text | None, Query(max_length=200)] = None,
                         account: Annotated[Text | None, Query(max_length=100, description="rent account")] = None,
                         limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
        from rentflow_common import audit

        async with runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            entries = await audit.query(raw, since=since, user=user or None, account=account or None, limit=limit)
        return {"service": runtime.name, "entries": entries, "count": len(entries)}

    @app.get("/v1/ops/status", tags=["ops"], summary="outbox backlog and consumer progress", dependencies=ops,
             description="Throughput (`messages_per_s`, `outbox_published_per_s`) is over the last minute. With "
                         "`lag=true` each consumer group also gets `lag`, `lag_by_topic` and `partitions` (log end "
                         "offset − committed offset, from the broker; null when the broker cannot be asked). A group "
                         "with several members in this process (RENTFLOW_LEDGER_CONSUMERS) is one entry, their "
                         "counters summed, `members` how many.")
    async def status(lag: bool = Query(False, description="also ask the broker for consumer lag")) -> dict[str, Any]:
        return await runtime.status(with_lag=lag)

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics: consumers, lag, dead letters, outbox",
             dependencies=metrics_auth)
    async def metrics() -> Response:
        return Response(content=await runtime.metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/ops/replay", tags=["ops"], summary="publish retained outbox events again from a time")
    async def replay(body: ReplayRequest, request: Request, caller: Caller = Depends(require("ops"))) -> dict[str, Any]:
        since = body.since.astimezone(dt.timezone.utc)
        async with runtime.uow_for(request, caller) as uow:  # the replay and who asked for it, together
            topics = await request_replay(uow.raw, since, body.topics)
            uow.audit("outbox.replay", after={"since": since.isoformat(), "topics": topics})
            await uow.commit()
        if runtime.relay is not None:
            runtime.relay.wake()
        return {"service": runtime.name, "since": since.isoformat(), "republishing": topics}

    @app.get("/v1/ops/dead-letters", tags=["ops"], summary="dead letters of this service's consumer groups",
             dependencies=ops_only)
    async def dead_letters(status: str | None = Query(None, pattern="^(open|parked|retried|discarded)$"),
                           limit: int = Query(100, ge=1, le=10_000)) -> list[dict[str, Any]]:
        async with runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            rows = await raw.fetch(
                'select id, group_id, topic, partition, "offset", key, event_id, reason, status, dead_lettered_at, '
                "resolved_at, resolved_by from dead_letters where ($1::text is null or status = $1) "
                "order by id limit $2", status, limit)
        return [_dead_letter(r) for r in rows]

    @app.get("/v1/ops/dead-letters/{dead_letter_id}", tags=["ops"], summary="one dead letter with its message",
             dependencies=ops_only)
    async def dead_letter(dead_letter_id: int = PathParam(ge=1, le=2**62)) -> dict[str, Any]:
        async with runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            row = await raw.fetchrow('select * from dead_letters where id = $1', dead_letter_id)
        if row is None:
            raise HTTPException(404, f"no dead letter {dead_letter_id}")
        doc = _dead_letter(row)
        doc["message"] = row["value"].decode("utf-8", "replace") if row["value"] is not None else None
        return doc

    @app.post("/v1/ops/dead-letters/{dead_letter_id}/retry", tags=["ops"],
              summary="handle a dead letter again, then what is parked behind it")
    async def retry(request: Request, dead_letter_id: int = PathParam(ge=1, le=2**62), body: RetryRequest | None = None,
                    caller: Caller = Depends(require("ops"))) -> dict[str, Any]:
        refuse_other(body.by if body else None, caller)
        async with runtime.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            group = await raw.fetchval("select group_id from dead_letters where id = $1", dead_letter_id)
        if group is None:
            raise HTTPException(404, f"no dead letter {dead_letter_id}")
        try:
            result = await runtime.consumer(group).retry(dead_letter_id, by=caller.name)
            async with runtime.uow_for(request, caller) as uow:
                uow.audit("dead_letter.retried", subject=dead_letter_id, after={"group": group, **result})
                await uow.commit()
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from None
        if result["failed"] is not None:
            raise HTTPException(409, {"detail": f"dead letter {result['failed']} failed again: {result['reason']}",
                                      **result})
        return result

    return app


_CONNECTION_LOST = (ConnectionError, TimeoutError, asyncio.TimeoutError, asyncpg.ConnectionDoesNotExistError,
                    asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                    asyncpg.CrashShutdownError, asyncpg.TooManyConnectionsError, sqlalchemy.exc.TimeoutError)


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) says the database cannot be reached or is going away, rather
    than a bug or a refused statement: refused or dropped connections, a server starting or shutting
    down, a full connection pool."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, _CONNECTION_LOST):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
            return True
        if isinstance(exc, sqlalchemy.exc.DBAPIError):
            if exc.connection_invalidated:
                return True
            exc = exc.orig
            continue
        exc = exc.__cause__ or exc.__context__
    return False


async def _database_unavailable_handler(request: Request, exc: Exception) -> Response:
    """503 with Retry-After while the database is away (a caller retries; nothing was stored);
    anything else is raised on (a 500: a bug)."""
    if not database_unavailable(exc):
        raise exc
    log.warning("http.database_unavailable", path=request.url.path, error=f"{type(exc).__name__}: {exc}"[:300])
    return JSONResponse({"detail": "the database is unavailable: nothing was stored; try again shortly"},
                        status_code=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)})


def _dead_letter(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "group_id": r["group_id"], "topic": r["topic"], "partition": r["partition"],
            "offset": r["offset"], "key": r["key"], "event_id": str(r["event_id"]) if r["event_id"] else None,
            "reason": r["reason"], "status": r["status"], "dead_lettered_at": r["dead_lettered_at"].isoformat(),
            "resolved_at": r["resolved_at"].isoformat() if r["resolved_at"] else None, "resolved_by": r["resolved_by"]}


SERVER_TICK_S = 1.0


class _Server(uvicorn.Server):
    """uvicorn's server, its main loop ticking once a second instead of ten times: the tick refreshes the
    Date header (once a second either way) and looks for a stop request, which now wakes it at once."""

    _tick: asyncio.Future[None] | None = None

    async def main_loop(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 10) % 864000  # on_tick refreshes the Date header when counter % 10 == 0
            self._tick = tick = loop.create_future()
            timer = loop.call_later(SERVER_TICK_S, _settle, tick)
            await tick
            timer.cancel()

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        tick = self._tick
        if tick is not None and not tick.done():
            try:  # a signal handler: the loop is woken through its self-pipe
                self._loop.call_soon_threadsafe(_settle, tick)
            except RuntimeError:
                pass  # the loop has closed


def lower_cpu_priority(niceness: int) -> None:
    """Every thread of this process at least `niceness` (Linux keeps a priority per thread; a thread
    started later takes its starter's)."""
    tasks = Path("/proc/self/task")
    for tid in (int(t) for t in os.listdir(tasks)) if tasks.is_dir() else (0,):
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except ProcessLookupError:  # the thread has ended
            pass


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def event_loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new event loop of the kind RENTFLOW_EVENT_LOOP names (`serve` has uvicorn make the same), for
    asyncio.Runner: a bench running a service's consumer in its own process runs it as the service does."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    if name == "asyncio":
        return asyncio.new_event_loop
    raise ValueError(f"RENTFLOW_EVENT_LOOP: {name!r} is not uvloop or asyncio")


def serve(app: FastAPI, service: str, *, background: bool = False) -> None:
    """Runs the service on RENTFLOW_HOST:RENTFLOW_PORT (set by `rentflow up`), as uvicorn.run does,
    keeping the memory its batches free for the next ones (RENTFLOW_MEMORY_KEEP_MB, rentflow_memory).
    `background`: the service is off a payment's path to its account; it runs at the CPU priority
    RENTFLOW_BACKGROUND_NICE."""
    settings: Settings = app.state.runtime.settings
    configure_logging(service, settings.log_format)
    if background:
        lower_cpu_priority(settings.background_nice)
    rentflow_memory.keep(settings.memory_keep_mb)
    app.state.runtime.exit_process = _exit_now  # its own process: a stuck consumer ends it (`_watch_stuck`)
    server = _Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=30, loop=settings.event_loop))
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(STARTUP_FAILURE)
