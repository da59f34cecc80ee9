"""A unit of work: one transaction on the driver's connection, rolled back unless committed; pooled
connections the server has dropped are not handed out (without a ping per checkout)."""
from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest

from rentflow_common.db import SEND_BUFFER_BYTES, UnitOfWork, _roomy_send_buffer, make_engine, plain_url


async def _terminate(database_url: str, application_name: str) -> int:
    admin = await asyncpg.connect(plain_url(database_url))
    try:
        return len(await admin.fetch("select pg_terminate_backend(pid) from pg_stat_activity "
                                     "where application_name = $1", application_name))
    finally:
        await admin.close()


async def test_connections_the_server_dropped_are_replaced_on_checkout(database_url):
    name = f"rentflow-pool-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, schema="public", pool_size=3, application_name=name)
    try:
        async def work() -> None:
            async with UnitOfWork(engine) as uow:
                assert await uow.raw.fetchval("select 1") == 1
                await uow.commit()

        await asyncio.gather(*(work() for _ in range(3)))  # three connections in the pool
        assert await _terminate(database_url, name) == 3
        await asyncio.sleep(0.2)  # the sockets' close reaches the event loop
        for _ in range(3):  # as the routes read: straight on the driver's connection, no retry
            async with engine.connect() as conn:  # each dropped connection was replaced on checkout
                raw = (await conn.get_raw_connection()).driver_connection
                assert await raw.fetchval("select 1") == 1
    finally:
        await engine.dispose()


async def test_a_connection_lost_unnoticed_costs_a_retried_begin_not_an_error(database_url, monkeypatch):
    import rentflow_common.db as db

    monkeypatch.setattr(db, "_drop_closed", lambda *a: None)  # as if the sockets' close had not been seen
    name = f"rentflow-pool-{uuid.uuid4().hex[:8]}"
    engine = make_engine(database_url, schema="public", pool_size=1, application_name=name)
    try:
        async with UnitOfWork(engine) as uow:
            await uow.commit()
        assert await _terminate(database_url, name) == 1
        await asyncio.sleep(0.2)
        async with UnitOfWork(engine) as uow:  # BEGIN fails on the dead connection; again on a new one
            assert await uow.raw.fetchval("select 2") == 2
            await uow.commit()
    finally:
        await engine.dispose()


async def test_statements_on_the_driver_connection_are_in_the_unit_of_works_transaction(database_url):
    engine = make_engine(database_url, schema="public")
    table = f"uow_{uuid.uuid4().hex[:8]}"
    try:
        async with UnitOfWork(engine) as uow:
            assert uow.raw.is_in_transaction()
            await uow.raw.execute(f"create table {table} (a int)")
            await uow.raw.execute(f"insert into {table} values (1)")
        async with UnitOfWork(engine) as uow:  # not committed: nothing of it is left
            assert await uow.raw.fetchval("select to_regclass($1)", table) is None
            await uow.raw.execute(f"create table {table} (a int)")
            await uow.raw.execute(f"insert into {table} values (2)")
            await uow.commit()
        async with UnitOfWork(engine) as uow:
            assert await uow.raw.fetchval(f"select array_agg(a) from {table}") == [2]
    finally:
        await engine.dispose()


def _wmem_limits() -> tuple[int, int]:
    limits = Path("/proc/sys/net/core/wmem_max"), Path("/proc/sys/net/core/wmem_default")
    if not all(p.exists() for p in limits):
        pytest.skip("no Linux socket buffer limits to compare with")
    most, default = (int(p.read_text()) for p in limits)
    if most <= default:
        pytest.skip(f"net.core.wmem_max ({most}) allows no more than the default")
    return most, default


def _connected(sock: socket.socket) -> SimpleNamespace:
    """What the engine's connect event is given, around one socket: its asyncpg connection's transport."""
    transport = SimpleNamespace(get_extra_info=lambda name: sock if name == "socket" else None)
    return SimpleNamespace(driver_connection=SimpleNamespace(_transport=transport))


def test_unix_sockets_get_megabytes_and_tcp_is_left_to_the_kernel():
    """A Unix socket's send buffer is fixed (wmem_default) unless asked; a TCP socket's grows by itself,
    and asking would pin it, so only Unix sockets are given SEND_BUFFER_BYTES."""
    most, _default = _wmem_limits()
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        tcp_before = tcp.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
        _roomy_send_buffer(_connected(left), None)
        _roomy_send_buffer(_connected(tcp), None)
        # Linux doubles what it is given (for its own bookkeeping) and caps it at wmem_max first
        assert left.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * min(SEND_BUFFER_BYTES, most)
        assert tcp.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == tcp_before
    finally:
        for s in (left, right, tcp):
            s.close()


async def test_connections_may_hold_megabytes_unsent(database_url):
    """A COPY's data leaves as fast as PostgreSQL reads it, not a default socket buffer (~200 KB) each
    time the event loop comes round (rentflow_common.db.SEND_BUFFER_BYTES): on the engine's own
    connections, where they reach PostgreSQL by a Unix socket (the embedded database's)."""
    most, _default = _wmem_limits()
    engine = make_engine(database_url, schema="public", pool_size=1)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            sock = raw._transport.get_extra_info("socket")
            if sock.family != socket.AF_UNIX:
                pytest.skip("PostgreSQL over TCP here: its buffer is the kernel's to size")
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) == 2 * min(SEND_BUFFER_BYTES, most)
    finally:
        await engine.dispose()
