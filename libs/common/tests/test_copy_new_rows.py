"""copy_new_rows: a batch by COPY in a savepoint, or False and nothing written when one row is known,
inside the caller's transaction, on a real PostgreSQL."""
from __future__ import annotations

import asyncpg
import pytest

from rentflow_common.db import copy_new_rows, plain_url

COLUMNS = ["id", "name"]


async def test_new_rows_go_in_and_a_known_one_undoes_only_the_copy(database_url):
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.execute("create table things (id int primary key, name text not null)")
        async with conn.transaction():
            await conn.execute("insert into things values (0, 'before')")
            assert await copy_new_rows(conn, "things", [(1, "a"), (2, "b")], COLUMNS, primary_key="things_pkey")
            # 3 is new, 2 is known: none of the batch is written, and the transaction goes on
            assert not await copy_new_rows(conn, "things", [(3, "c"), (2, "b")], COLUMNS, primary_key="things_pkey")
            await conn.execute("insert into things values (4, 'after')")
        assert [tuple(r) for r in await conn.fetch("select id, name from things order by id")] == [
            (0, "before"), (1, "a"), (2, "b"), (4, "after")]
    finally:
        await conn.close()


async def test_any_other_error_is_raised(database_url):
    conn = await asyncpg.connect(plain_url(database_url))
    try:
        await conn.execute("create table things (id int primary key, name text not null)")
        await conn.execute("create unique index things_name on things (name)")
        async with conn.transaction():
            await copy_new_rows(conn, "things", [(1, "a")], COLUMNS, primary_key="things_pkey")
            with pytest.raises(asyncpg.UniqueViolationError):  # on another constraint than the primary key
                await copy_new_rows(conn, "things", [(2, "a")], COLUMNS, primary_key="things_pkey")
            with pytest.raises(asyncpg.NotNullViolationError):
                await copy_new_rows(conn, "things", [(3, None)], COLUMNS, primary_key="things_pkey")
    finally:
        await conn.close()
