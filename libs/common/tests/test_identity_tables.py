"""The identity tables (principals, audit_log) every service makes at start: several instances of a
service starting together make them once, under the service's migration lock, in one transaction."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg

from rentflow_common.db import plain_url
from rentflow_common.service import ServiceRuntime
from rentflow_common.settings import Settings


async def test_instances_starting_together_make_the_tables_once(database_url, infra):
    name = f"svc_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(database_url))
    await admin.execute(f"create schema {name}")
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap_servers)
    runtimes = [ServiceRuntime(name, Path("."), settings) for _ in range(6)]
    try:
        for _round in range(3):  # made from nothing each round: the race is in creating them
            await admin.execute(f"drop table if exists {name}.principals, {name}.audit_log cascade")
            await admin.execute(f"drop function if exists {name}.audit_log_append_only() cascade")
            results = await asyncio.gather(*(r.identity_tables() for r in runtimes), return_exceptions=True)
            assert [r for r in results if r is not None] == []
        tables = await admin.fetch("select table_name from information_schema.tables where table_schema = $1 "
                                   "order by 1", name)
        assert [t["table_name"] for t in tables] == ["audit_log", "principals"]
    finally:
        for r in runtimes:
            await r.engine.dispose()
        await admin.execute(f"drop schema {name} cascade")
        await admin.close()


async def test_the_tables_are_made_in_one_transaction_under_the_lock(database_url, infra):
    """While another holds the service's migration lock, identity_tables waits and makes nothing."""
    name = f"svc_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(database_url))
    await admin.execute(f"create schema {name}")
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap_servers)
    runtime = ServiceRuntime(name, Path("."), settings)
    try:
        holder = admin.transaction()
        await holder.start()
        await admin.execute("select pg_advisory_xact_lock(hashtext($1))", f"rentflow-migrate-{name}")
        making = asyncio.create_task(runtime.identity_tables())
        await asyncio.sleep(0.5)
        other = await asyncpg.connect(plain_url(database_url))
        made = await other.fetchval("select count(*) from information_schema.tables where table_schema = $1", name)
        await other.close()
        assert (making.done(), made) == (False, 0)
        await holder.commit()
        await asyncio.wait_for(making, 10)
        assert await admin.fetchval("select count(*) from information_schema.tables where table_schema = $1",
                                    name) == 2
    finally:
        await runtime.engine.dispose()
        await admin.execute(f"drop schema {name} cascade")
        await admin.close()
