"""Test support shared by every package: real broker and database, started once per session
the same way `rentflow up` starts them, and a fresh database per test module that asks."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

import asyncpg

from rentflow_common.db import plain_url
from rentflow_common.infra import Infrastructure, start_infrastructure, with_database

if TYPE_CHECKING:
    from rentflow_common.events import Cause, OutboxRow


def session_infrastructure() -> Infrastructure:
    """A temporary home (unless RENTFLOW_TEST_HOME names one) is removed when the infrastructure
    stops: its database files reach a gigabyte or more over a full run."""
    if os.environ.get("RENTFLOW_TEST_HOME"):
        return start_infrastructure(Path(os.environ["RENTFLOW_TEST_HOME"]), database="rentflow_test")
    home = Path(tempfile.mkdtemp(prefix="rentflow-test-"))
    infra = start_infrastructure(home, database="rentflow_test")
    outer = ExitStack()
    outer.callback(shutil.rmtree, home, ignore_errors=True)  # last: after the database has stopped
    outer.enter_context(infra._stack)
    infra._stack = outer
    return infra


def fresh_database(infra: Infrastructure, prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(plain_url(infra.database_url))
        try:
            await conn.execute(f'create database "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return with_database(infra.database_url, name)


async def fresh_database_async(infra: Infrastructure, prefix: str = "t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(plain_url(infra.database_url))
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return with_database(infra.database_url, name)


def london_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Europe/London")).date()


async def gl_daily_since(http: Any, first_day: dt.date) -> dict[str, Any]:
    """GET /v1/gl/daily for each day from `first_day` (a test's start) to today, as one: a test that runs
    over midnight finds what it posted split across the two days' batches."""
    days = [first_day + dt.timedelta(days=n) for n in range((london_today() - first_day).days + 1)]
    merged: dict[str, Any] = {"journals": 0, "journals_by_kind": {}, "debit_pence": 0, "credit_pence": 0,
                              "balanced": True}
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for day in days:
        r = await http.get("/v1/gl/daily", params={"date": day.isoformat()})
        assert r.status_code == 200, r.text
        daily = r.json()
        merged["balanced"] = merged["balanced"] and daily["balanced"]
        for field in ("journals", "debit_pence", "credit_pence"):
            merged[field] += daily[field]
        for kind, n in daily["journals_by_kind"].items():
            merged["journals_by_kind"][kind] = merged["journals_by_kind"].get(kind, 0) + n
        for line in daily["lines"]:
            into = lines.setdefault((line["period"], line["gl_code"]), {**line, "debit_pence": 0, "credit_pence": 0,
                                                                         "net_pence": 0})
            for field in ("debit_pence", "credit_pence", "net_pence"):
                into[field] += line[field]
    merged["lines"] = [lines[k] for k in sorted(lines)]
    return merged


async def poll(predicate: Any, timeout: float = 30.0, what: str | None = None) -> Any:
    """Awaits `predicate()` every 0.1 s until it returns something truthy (returned), or raises
    AssertionError naming `what` and the last value seen after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(0.1)
    if what:
        raise AssertionError(f"timed out waiting for {what}; last saw {last!r}")
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def envelope_row(topic: str, key: str | None, envelope: Any) -> "OutboxRow":
    """An outbox row carrying a hand-made envelope, for tests that feed the outbox directly."""
    from rentflow_common.events import OutboxRow

    return OutboxRow(topic, key, envelope.model_dump_json().encode(),
                     {"event_id": str(envelope.event_id), "event_type": envelope.event_type,
                      "correlation_id": envelope.correlation_id}, envelope.event_id)


async def create_core_tables(conn: Any, schema: str) -> None:
    """The outbox, inbox, progress and dead-letter tables in `schema` (a SQLAlchemy connection)."""
    from sqlalchemy import text

    from rentflow_common.outbox import TABLES_DDL

    await conn.execute(text(f'create schema if not exists "{schema}"'))
    await conn.execute(text(f'set search_path to "{schema}"'))
    for ddl in TABLES_DDL:
        await conn.execute(text(ddl))


def payment_envelope(i: int, event_id: uuid.UUID | None = None) -> Any:
    """A PaymentReceived envelope numbered `i` (provider_ref r{i}, 100 + i pence), for outbox and
    consumer tests."""
    import datetime as dt

    from rentflow_schemas import new_envelope
    from rentflow_schemas.payments import PaymentReceived

    now = dt.datetime(2026, 4, 6, 9, tzinfo=dt.timezone.utc)
    data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"r{i}", channel="card",
                           amount_pence=100 + i, paid_at=now, received_at=now, reference=f"REF{i}")
    return new_envelope(data, event_type="payments.received", event_id=event_id or uuid.uuid4(),
                        producer="test", correlation_id="c")


class OutboxRig(NamedTuple):
    """An outbox on real infrastructure, for tests of the outbox, relay and consumer: the core
    tables in schema `svc`, the test's topics, and a started producer (`outbox_rig`)."""
    engine: Any
    producer: Any
    bootstrap_servers: str
    topic_prefix: str

    def relay(self, **options: Any) -> Any:
        """An OutboxRelay publishing this rig's outbox with `options` (batch_size, partitions, ...)."""
        from rentflow_common.outbox import OutboxRelay

        return OutboxRelay(self.engine, self.producer, bootstrap_servers=self.bootstrap_servers,
                           topic_prefix=self.topic_prefix, **options)

    async def close(self) -> None:
        await self.producer.stop()
        await self.engine.dispose()


async def drain(relay: Any) -> None:
    """Runs `relay` (an OutboxRelay) until it has nothing more to publish."""
    while await relay.relay_once():
        pass


async def relay_dies_before_recording(engine: Any, producer: Any, **relay_args: Any) -> None:
    """An outbox relay numbers and sends what is pending, then dies before recording where its
    batches landed (as one whose process is killed between the broker's answer and that write)."""
    from rentflow_common.outbox import OutboxRelay

    class DiesBeforeRecording(OutboxRelay):
        async def _record(self, raw: Any, deliveries: Any) -> None:
            raise ConnectionError("the relay died here")

    dying = DiesBeforeRecording(engine, producer, **relay_args)
    try:
        await dying.relay_once()
        raise AssertionError("the relay was meant to die")
    except ConnectionError:
        pass
    await dying.close()


async def read_topic(bootstrap_servers: str, topic: str, expected: int, *, partitions: int = 3,
                     timeout: float = 30.0) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """(headers, decoded body) of every message on `topic` (its full name), read from the beginning
    until `expected` are there or `timeout` passes."""
    import orjson
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[dict[str, str], dict[str, Any]]] = []
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        await consumer.seek_to_beginning()
        deadline = asyncio.get_running_loop().time() + timeout
        while len(got) < expected and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                got += [({k: v.decode() for k, v in r.headers}, orjson.loads(r.value)) for r in records]
    finally:
        await consumer.stop()
    return got


async def outbox_rig(infra: Infrastructure, database_url: str, topic_prefix: str, topics: list[str], *,
                     partitions: int = 3, tables: tuple[str, ...] = (), client_id: str = "test") -> OutboxRig:
    """The core tables (and the test's own `tables`, DDL) in schema `svc` of `database_url`,
    `topics` with `partitions` each, and a started producer. The caller closes it."""
    from sqlalchemy import text

    from rentflow_common.db import make_engine
    from rentflow_common.kafka import ensure_topics
    from rentflow_common.outbox import make_producer

    engine = make_engine(database_url, schema="svc")
    async with engine.begin() as conn:
        await create_core_tables(conn, "svc")
        for ddl in tables:
            await conn.execute(text(ddl))
    await ensure_topics(infra.kafka_bootstrap_servers, partitions, topics, prefix=topic_prefix)
    producer = make_producer(infra.kafka_bootstrap_servers, client_id)
    await producer.start()
    return OutboxRig(engine, producer, infra.kafka_bootstrap_servers, topic_prefix)


class Incoming(NamedTuple):
    """A message as a test builds it: where it is published, and what a handler receives of it
    (`data`, `cause`, `occurred_at`, as on rentflow_common.events.Msg)."""
    topic: str
    partition: int
    offset: int
    key: str | None
    envelope: Any

    @property
    def data(self) -> Any:
        return self.envelope.data

    @property
    def cause(self) -> "Cause":
        from rentflow_common.events import Cause

        return Cause(self.envelope.event_id, self.envelope.correlation_id)

    @property
    def occurred_at(self) -> Any:
        return self.envelope.occurred_at


ALL_ROLES = ("officer", "manager", "finance", "ops", "admin")


async def grant(app: Any, name: str = "tester", roles: tuple[str, ...] | list[str] = ALL_ROLES, *,
                patches: tuple[str, ...] = (), limits: dict[str, int] | None = None) -> dict[str, str]:
    """A user the started service `app` knows (in its principals, or notifications' users), as the
    Authorization header of a new token. For tests of one service in-process; across services,
    users come from notifications over identity.users.v1."""
    import orjson

    from rentflow_common.auth import new_token, token_hash

    runtime = app.state.runtime
    token = new_token()
    table = runtime.auth.table
    if table == "principals":
        await runtime.identity_tables()  # (a test may not have started the runtime)
    async with runtime.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.execute(
            f"insert into {table} (name, roles, patches, approval_limits, token_sha256, disabled, version) "
            "values ($1, $2, $3, $4::jsonb, $5, false, 1) on conflict (name) do update set roles = excluded.roles, "
            "patches = excluded.patches, approval_limits = excluded.approval_limits, "
            f"token_sha256 = excluded.token_sha256, disabled = false, version = {table}.version + 1",
            name, list(roles), list(patches), orjson.dumps(limits or {}).decode(), token_hash(token))
    return {"Authorization": f"Bearer {token}"}


def process_alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped (what a container's init may leave behind)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


class CommitAfterRead:
    """A reader's asyncpg connection on which `commit` (another transaction, committing) runs once, right
    after the reader's `after`-th read (fetch, fetchrow, fetchval): a view reading in several statements
    then meets that commit between two of them, deterministically."""

    def __init__(self, raw: Any, commit: Any, after: int = 1) -> None:
        self._raw = raw
        self._commit = commit
        self._reads_left = after
        self.committed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    async def _after(self, result: Any) -> Any:
        self._reads_left -= 1
        if self._reads_left == 0:
            await self._commit()
            self.committed = True
        return result

    async def fetch(self, *args: Any, **kw: Any) -> Any:
        return await self._after(await self._raw.fetch(*args, **kw))

    async def fetchrow(self, *args: Any, **kw: Any) -> Any:
        return await self._after(await self._raw.fetchrow(*args, **kw))

    async def fetchval(self, *args: Any, **kw: Any) -> Any:
        return await self._after(await self._raw.fetchval(*args, **kw))
