"""Every service's migrations leave its outbox tables as rentflow_common.outbox.TABLES_DDL says: a
service whose migrations stop short of the shared DDL keeps the older layout's costs, or its relay
misses what is deleted from the outbox."""
from __future__ import annotations

import asyncpg
import pytest

from rentflow_common.db import plain_url
from rentflow_common.migrations import upgrade_async
from rentflow_ledger.bootstrap import MIGRATIONS as LEDGER
from rentflow_notifications.bootstrap import MIGRATIONS as NOTIFICATIONS
from rentflow_payments.bootstrap import MIGRATIONS as PAYMENTS
from rentflow_reporting.bootstrap import MIGRATIONS as REPORTING


@pytest.mark.parametrize("schema,migrations", [("payments", PAYMENTS), ("ledger", LEDGER),
                                               ("notifications", NOTIFICATIONS), ("reporting", REPORTING)])
async def test_a_claims_refs_are_stored_uncompressed(database_url, schema, migrations):
    await upgrade_async(migrations, database_url, schema)
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        storage = await conn.fetchval(
            "select attstorage::text from pg_attribute where attrelid = $1::regclass and attname = 'refs'",
            f"{schema}.outbox_numbers")
    finally:
        await conn.close()
    assert storage == "e"  # external: out of line, never compressed


@pytest.mark.parametrize("schema,migrations", [("payments", PAYMENTS), ("ledger", LEDGER),
                                               ("notifications", NOTIFICATIONS), ("reporting", REPORTING)])
async def test_statements_deleting_from_the_outbox_are_counted(database_url, schema, migrations):
    await upgrade_async(migrations, database_url, schema)
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        before = await conn.fetchval(f"select coalesce(pg_sequence_last_value('{schema}.outbox_deletes'), 0)")
        await conn.execute(f"delete from {schema}.outbox where batch < 0")
        await conn.execute(f"truncate {schema}.outbox_events")
        after = await conn.fetchval(f"select pg_sequence_last_value('{schema}.outbox_deletes')")
    finally:
        await conn.close()
    assert after == before + 2
