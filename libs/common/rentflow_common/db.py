"""Database access: one async engine per service, its own schema, and a unit of work.

Hot paths use the asyncpg connection under the SQLAlchemy connection (same transaction)
for set-based SQL (unnest, COPY).
"""
from __future__ import annotations

import socket
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from rentflow_common.events import Emitter, OutboxRow
from rentflow_common.outbox import committed, enqueue, uncommitted


def asyncpg_url(url: str) -> str:
    """postgresql://… (as users write it) → postgresql+asyncpg://… (what SQLAlchemy wants).

    libpq's `sslmode=` becomes asyncpg's `ssl=` (SQLAlchemy passes query parameters to
    asyncpg.connect as keywords, and asyncpg has no `sslmode` keyword)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, got scheme {parts.scheme!r}")
    query = "&".join("ssl=" + p.split("=", 1)[1] if p.startswith("sslmode=") else p
                     for p in parts.query.split("&") if p)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, query, parts.fragment))


def plain_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql",) + tuple(parts[1:]))


def make_engine(url: str, schema: str, *, pool_size: int = 5, application_name: str | None = None) -> AsyncEngine:
    """A pooled engine whose connections are checked on checkout without a round trip
    (`_drop_closed`), instead of `pool_pre_ping` (BEGIN, a statement and ROLLBACK: three round trips
    before every unit of work, about 5% of intake's time)."""
    engine = create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": {"search_path": f"{schema},public",
                                          "application_name": application_name or f"rentflow-{schema}"}},
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    event.listen(engine.sync_engine, "connect", _roomy_send_buffer)
    return engine


# What a Unix-socket connection may hold unsent (SO_SNDBUF; the kernel caps it at net.core.wmem_max). A
# COPY is sent as the event loop comes round to the socket, and at the default (~200 KB) a batch's outbox
# COPY (~12 MB for 14,000 events) took a turn per 200 KB, each as long as the next batch's handlers ran
# before yielding: 260-330 ms a COPY in the ledger bench, 85-90 ms with 4 MB. TCP is left alone: the
# kernel grows its buffer as needed (to net.ipv4.tcp_wmem's maximum), and setting one would stop that.
SEND_BUFFER_BYTES = 4 * 1024 * 1024


def _roomy_send_buffer(dbapi_connection: Any, _record: Any) -> None:
    transport = getattr(dbapi_connection.driver_connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family != getattr(socket, "AF_UNIX", None):
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    except OSError:  # not a socket that takes it: the default stays
        pass


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (PostgreSQL restarted or killed: its backends exit
    and their sockets close, which asyncpg sees at once) is not handed out: the pool drops it and
    every connection older than it, and connects anew. A connection whose loss is not seen yet fails
    the unit of work's BEGIN instead (asyncpg then marks it closed), and the unit of work starts
    again once on a new connection; a route's plain read fails once (503) and the next checkout
    drops the connection."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.InvalidatePoolError("the server closed this pooled connection")


class UnitOfWork(Emitter):
    """One transaction on PostgreSQL, and what it emits. Rolls back unless `commit()` is called;
    `commit()` writes the emitted events to the outbox in the same transaction (one COPY), then
    commits. Only the edge — a route, a consumer — opens and commits one; handlers receive it.

    `conn` is the SQLAlchemy connection; `raw` the asyncpg connection in the same transaction.
    `actor` is who acts (a user or provider from the caller's credential, or the service itself).
    """

    def __init__(self, engine: AsyncEngine, *, producer: str = "", correlation_id: str | None = None,
                 actor: str | None = None, on_commit: Callable[[bool], None] | None = None,
                 role: str | None = None) -> None:
        super().__init__(producer, correlation_id)
        self._engine = engine
        self.actor = actor
        self.role = role
        self.audited: list[Any] = []
        self._on_commit = on_commit
        self.conn: AsyncConnection
        self.raw: Any
        self._committed = False
        # batches `write_emitted` wrote by COPY, with the rows they were written from
        self._written: list[tuple[list[tuple[Any, ...]], list[OutboxRow]]] = []
        self._wrote = False  # `write_emitted` wrote rows

    async def __aenter__(self) -> "UnitOfWork":
        for attempt in (1, 2):
            self.conn = await self._engine.connect()
            raw = None
            try:
                await self.conn.begin()
                fairy = await self.conn.get_raw_connection()
                raw = fairy.driver_connection
                # The asyncpg adapter sends BEGIN lazily, with its first statement through SQLAlchemy: without this,
                # statements on `raw` would each commit on their own (and an inbox claim would survive a failed
                # batch). Its own start, not a `select 1` through SQLAlchemy: that cost a round trip and about
                # 0.2 ms of this process's CPU per unit of work (same run, units of one statement: 531 -> 319 µs).
                await fairy.dbapi_connection._start_transaction()
                self.raw = raw
                return self
            except BaseException as error:
                # the pooled connection was dead (nothing was done on it): once more, on a new one
                dead = attempt == 1 and isinstance(error, Exception) and (
                    (isinstance(error, exc.DBAPIError) and error.connection_invalidated)
                    or (raw is not None and raw.is_closed()))
                if dead:
                    await self.conn.invalidate()
                await self.conn.close()
                if not dead:
                    raise
        raise AssertionError("unreachable")

    def audit(self, action: str, *, subject: object = None, account_ref: str | None = None,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        """Records a state change in the audit trail (who: `actor` and `role`), written with the
        change when the unit of work commits."""
        from rentflow_common.audit import Audited

        self.audited.append(Audited(action, None if subject is None else str(subject), account_ref, before, after))

    async def write_emitted(self) -> None:
        """Writes what was emitted so far to the outbox now, in this transaction (what is emitted later
        goes at the commit): a handler writes the rows it has before it locks rows held until the commit,
        so the COPY of those is not done under the locks."""
        if self.emitted:
            rows = self.emitted
            written = await enqueue(self.raw, rows)
            self.emitted = []
            self._wrote = True
            if written:
                self._written.append((written, rows))

    async def commit(self) -> None:
        if self.audited:
            from rentflow_common.audit import write

            await write(self, self.audited)
            self.audited = []
        await self.write_emitted()
        emitted, batches = self._wrote, self._written
        for written, rows in batches:
            committed(self._engine, written, rows)
        try:
            await self.conn.commit()
        except BaseException:
            for written, _rows in batches:
                uncommitted(self._engine, written)
            raise
        self._committed = True
        if self._on_commit is not None:
            self._on_commit(emitted)

    async def __aexit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                await self.conn.rollback()
        finally:
            await self.conn.close()


async def as_of_one_moment(raw: Any) -> None:
    """Makes the transaction on `raw` read as of one moment (repeatable read, read only): a view that reads
    in several statements then never shows a commit made between them (a total without the lines it sums,
    a count that is not the page's). Must be the transaction's first statement."""
    await raw.execute("set transaction isolation level repeatable read, read only")


UNIQUE_VIOLATION = "23505"


async def copy_new_rows(raw: Any, table: str, records: Sequence[tuple[Any, ...]], columns: Sequence[str], *,
                        primary_key: str) -> bool:
    """Writes the rows by a binary COPY in a savepoint, inside the caller's transaction (asyncpg
    connection): True when they went in; False, and none of them written, when one was there already
    (a unique violation on `primary_key`, after waiting for a concurrent transaction writing it to end,
    as ON CONFLICT would), for the caller to write them by INSERT ... ON CONFLICT instead. Any other
    error is raised.

    For a batch that is nearly always all new (a request's payments, a batch's postings): asyncpg
    encodes a COPY's rows for about half what the same values cost as unnest arrays, and PostgreSQL
    does no speculative insertion. A batch with a known row leaves the rows written before it as dead
    tuples (vacuum's work). Worth it from a few dozen rows: the savepoint costs two round trips, and
    past 64 subtransactions in one transaction PostgreSQL's snapshots slow down for every session."""
    try:
        async with raw.transaction():  # a savepoint: a known row undoes only this COPY
            await raw.copy_records_to_table(table, records=records, columns=columns)
    except Exception as exc:  # asyncpg's UniqueViolationError, told by its SQLSTATE (as consumer.py does)
        if getattr(exc, "sqlstate", None) != UNIQUE_VIOLATION or getattr(exc, "constraint_name", None) != primary_key:
            raise
        return False
    return True


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        return True
    except Exception:
        return False
