"""The receipts a lump may settle, kept by COPY (adapters/reconciliation.py `add_receipt_detail`):
each payment once, whatever the number of events carrying it; a redelivered payment's detail is
left as it was; the channels returned are those of the detail new here (what `add_detail` returns)."""
from __future__ import annotations

import datetime as dt
import uuid

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.migrations import upgrade_async
from rentflow_ledger.adapters.reconciliation import SqlLumps
from rentflow_ledger.bootstrap import MIGRATIONS

NOW = dt.datetime(2026, 5, 1, 9, tzinfo=dt.timezone.utc)
DAY = dt.date(2026, 5, 1)


async def test_receipt_detail_is_kept_once_per_payment(database_url):
    await upgrade_async(MIGRATIONS, database_url, "ledger")
    engine = make_engine(database_url, "ledger")
    a, b, c, imp = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = [(a, "card", None, DAY, 100, "payout:PO_1", 3), (a, "card", None, DAY, 100, "payout:PO_1", 3),
             (b, "cash", imp, DAY, 200, None, 0)]
    try:
        async with UnitOfWork(engine) as uow:
            assert await SqlLumps(uow.raw).add_receipt_detail(first, NOW) == {"card", "cash"}
            await uow.commit()
        async with UnitOfWork(engine) as uow:  # redelivered, with one payment new
            again = [(b, "cash", imp, DAY, 999, None, 0), (c, "direct_debit", None, DAY, 300, None, 0)]
            assert await SqlLumps(uow.raw).add_receipt_detail(again, NOW) == {"direct_debit"}
            assert await SqlLumps(uow.raw).add_receipt_detail([], NOW) == set()
            await uow.commit()
        async with UnitOfWork(engine) as uow:
            rows = await uow.raw.fetch("select payment_id, channel, import_id, business_date, amount_pence, payout_key, "
                                       "fee_pence, lump_id, created_at from lump_detail order by amount_pence")
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [(a, "card", None, DAY, 100, "payout:PO_1", 3, None, NOW),
                                        (b, "cash", imp, DAY, 200, None, 0, None, NOW),
                                        (c, "direct_debit", None, DAY, 300, None, 0, None, NOW)]


async def test_detail_of_untaken_payments_is_copied_without_a_lookup(database_url):
    """`untaken=True` (the consumer's path: payments it found not taken before, one row each) writes
    the rows as they are, without first looking up the detail kept: a payment kept before is refused
    by lump_detail's primary key, not left out."""
    import asyncpg
    import pytest

    await upgrade_async(MIGRATIONS, database_url, "ledger")
    engine = make_engine(database_url, "ledger")
    a, b = uuid.uuid4(), uuid.uuid4()
    try:
        async with UnitOfWork(engine) as uow:
            rows = [(a, "card", None, DAY, 100, None, 3), (b, "direct_debit", None, DAY, 200, None, 0)]
            assert await SqlLumps(uow.raw).add_receipt_detail(rows, NOW, untaken=True) == {"card", "direct_debit"}
            await uow.commit()
        async with UnitOfWork(engine) as uow:
            with pytest.raises(asyncpg.UniqueViolationError):
                await SqlLumps(uow.raw).add_receipt_detail([(a, "card", None, DAY, 100, None, 3)], NOW, untaken=True)
        async with UnitOfWork(engine) as uow:
            kept = await uow.raw.fetch("select payment_id, amount_pence from lump_detail where payment_id = any($1)",
                                       [a, b])
    finally:
        await engine.dispose()
    assert sorted((r[0], r[1]) for r in kept) == sorted([(a, 100), (b, 200)])
