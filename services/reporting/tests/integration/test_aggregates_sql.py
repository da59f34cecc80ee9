"""The aggregate SQL on real PostgreSQL, batch by batch (no broker): day-end balances stay right
when postings arrive out of date order, and a receipt is collected once."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from rentflow_common.testing import Incoming
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.migrations import upgrade_async
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import SuspenseEvent, TransactionPosted

from rentflow_reporting.adapters import repository as repo
from rentflow_reporting.bootstrap import MIGRATIONS
from rentflow_reporting.service_layer.handlers import apply_ledger_events

UTC = dt.timezone.utc
D = dt.date


def txn(account, code, amount, day, after=0, *, txid=None, rule=None, at=None):
    data = TransactionPosted(transaction_id=txid or uuid.uuid4(), account_ref=account, type_code=code,
                             amount_pence=amount, balance_after_pence=after,
                             posted_at=at or dt.datetime.combine(day, dt.time(12), UTC), business_date=day,
                             period=f"{day:%Y-%m}", source_ref="s", allocation_rule=rule)
    return Incoming("ledger.transactions.v1", 0, 0, account,
                    new_envelope(data, event_type="ledger.transaction_posted", event_id=uuid.uuid4(),
                                 producer="ledger", correlation_id="c"))


def opened(payment_id, amount, received, value_date=None, period=None, action="opened", at=None):
    data = SuspenseEvent(action=action, payment_id=payment_id, amount_pence=amount, channel="cash", reference="?",
                         received_at=received, reason="no match", business_date=value_date, period=period)
    return Incoming("ledger.suspense.v1", 0, 0, str(payment_id),
                    new_envelope(data, event_type="ledger.suspense", event_id=uuid.uuid4(), producer="ledger",
                                 correlation_id="c", occurred_at=at))


class Reporting:
    """The reporting schema on a fresh database: batches through the real handler, rows read back."""

    def __init__(self, engine):
        self.engine = engine

    async def apply(self, *items):
        async with UnitOfWork(self.engine) as uow:
            await apply_ledger_events(uow, items)
            await uow.commit()

    async def rows(self, sql, *args):
        async with self.engine.connect() as c:
            raw = (await c.get_raw_connection()).driver_connection
            return [tuple(r) for r in await raw.fetch(sql, *args)]


@pytest.fixture
async def reporting(database_url):
    await upgrade_async(MIGRATIONS, database_url, "reporting")
    engine = make_engine(database_url, schema="reporting")
    yield Reporting(engine)
    await engine.dispose()


async def test_balances_and_totals_survive_out_of_order_and_repeated_events(reporting):
    same = uuid.uuid4()
    # batch 1: 5 Oct +10000, 12 Oct +10000 and −4000 (several dates and two postings on one day)
    await reporting.apply(txn("A", "DBR", 10000, D(2026, 10, 5), 10000),
                txn("A", "DBR", 10000, D(2026, 10, 12), 20000),
                txn("A", "RCP", -4000, D(2026, 10, 12), 16000, rule="exact", txid=same))
    # day ends: 5 Oct 10000; 12 Oct 10000 + 10000 − 4000 = 16000
    assert await reporting.rows("select business_date, balance_pence from account_balance_daily order by 1") == [
        (D(2026, 10, 5), 10000), (D(2026, 10, 12), 16000)]
    # batch 2: a correction back-dated to 8 Oct (−1500), a posting on 1 Oct before everything (+300),
    # and the 12 Oct receipt again under a new event id (same transaction id: ignored)
    # (posted on 13 Oct, after the others, as corrections are)
    later = dt.datetime(2026, 10, 13, 9, tzinfo=UTC)
    await reporting.apply(txn("A", "RBP", -1500, D(2026, 10, 8), 14500, rule="exact", at=later),
                txn("A", "DSC", 300, D(2026, 10, 1), 14800, at=later),
                txn("A", "RCP", -4000, D(2026, 10, 12), 16000, rule="exact", txid=same))
    # 1 Oct 300; 5 Oct 300 + 10000 = 10300; 8 Oct 10300 − 1500 = 8800; 12 Oct 8800 + 10000 − 4000 = 14800
    assert await reporting.rows("select business_date, balance_pence from account_balance_daily order by 1") == [
        (D(2026, 10, 1), 300), (D(2026, 10, 5), 10300), (D(2026, 10, 8), 8800), (D(2026, 10, 12), 14800)]
    # the account posted to has its account_state row (no profile yet), which the KPIs count
    assert await reporting.rows("select account_ref, profile_seen from account_state") == [("A", False)]
    # collected: 4000 (12 Oct, once) + 1500 (8 Oct)
    assert await reporting.rows("select business_date, key, amount_pence, count from daily_totals "
                      "where metric = 'collected' order by 1") == [
        (D(2026, 10, 8), "bank_transfer", 1500, 1), (D(2026, 10, 12), "card", 4000, 1)]
    # a posting twice in one batch (re-emitted under a new event id), after a new one: counted once
    twice = uuid.uuid4()
    await reporting.apply(txn("B", "RCP", -500, D(2026, 10, 14), -500, rule="exact"),
                txn("B", "RCP", -700, D(2026, 10, 14), -1200, rule="exact", txid=twice),
                txn("B", "RCP", -700, D(2026, 10, 14), -1200, rule="exact", txid=twice))
    assert await reporting.rows("select balance_pence from account_balance_daily where account_ref = 'B'") == [(-1200,)]
    assert await reporting.rows("select amount_pence, count from daily_totals where business_date = '2026-10-14' "
                      "and metric = 'receipt'") == [(1200, 2)]

    # a suspense receipt opened twice (re-emitted) is collected once, on its London date:
    # 23:30 UTC on 31 Oct 2026 is 23:30 GMT, still 31 Oct; 23:30 UTC on 10 Oct is 00:30 BST on 11 Oct
    p, q = uuid.uuid4(), uuid.uuid4()
    await reporting.apply(opened(p, 700, dt.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)))
    await reporting.apply(opened(p, 700, dt.datetime(2026, 10, 31, 23, 30, tzinfo=UTC)),
                opened(q, 50, dt.datetime(2026, 10, 10, 23, 30, tzinfo=UTC)))
    assert await reporting.rows("select business_date, amount_pence, count from daily_totals "
                      "where metric = 'suspense_opened' order by 1") == [
        (D(2026, 10, 11), 50, 1), (D(2026, 10, 31), 700, 1)]

    # paid on 6 Oct and on 20 Oct, both reaching the ledger on 2 Dec; October was closed when the
    # second arrived, so its journal was booked in November: both are collected on their value
    # dates; in the queue from the value date, or from 1 Nov for the one booked in November
    early, late = uuid.uuid4(), uuid.uuid4()
    await reporting.apply(opened(early, 900, dt.datetime(2026, 12, 2, 10, tzinfo=UTC), value_date=D(2026, 10, 6),
                       period="2026-10"),
                opened(late, 901, dt.datetime(2026, 12, 2, 10, tzinfo=UTC), value_date=D(2026, 10, 20),
                       period="2026-11"))
    assert await reporting.rows("select business_date, metric, amount_pence from daily_totals where metric in "
                      "('collected', 'suspense_opened') and amount_pence in (900, 901) order by 1, 2") == [
        (D(2026, 10, 6), "collected", 900), (D(2026, 10, 6), "suspense_opened", 900),
        (D(2026, 10, 20), "collected", 901), (D(2026, 11, 1), "suspense_opened", 901)]

    # the bank takes the 6 October one back on 4 December: out of the queue, and out of what was
    # collected, on that day (twice delivered, once counted)
    back = opened(early, 900, dt.datetime(2026, 12, 2, 10, tzinfo=UTC), value_date=D(2026, 10, 6),
                  action="reversed", at=dt.datetime(2026, 12, 4, 9, tzinfo=UTC))
    await reporting.apply(back)
    await reporting.apply(back._replace(envelope=back.envelope.model_copy(update={"event_id": uuid.uuid4()})))
    assert await reporting.rows("select business_date, metric, amount_pence, count from daily_totals where business_date "
                      "= '2026-12-04' order by 2") == [
        (D(2026, 12, 4), "collected", -900, 0), (D(2026, 12, 4), "suspense_reversed", 900, 1)]
    assert await reporting.rows(f"select allocated_date from suspense_items where payment_id = '{early}'") == [
        (D(2026, 12, 4),)]


async def test_a_posting_kept_already_counts_once_in_a_batch_that_goes_in_by_copy(reporting):
    """A batch big enough for the COPY (repo.COPY_POSTINGS) that repeats a posting kept by an earlier
    batch (re-emitted under another event id): the COPY fails on it, the batch goes in by ON CONFLICT,
    and only the new postings count."""
    day, n = D(2026, 10, 14), repo.COPY_POSTINGS
    kept = uuid.uuid4()
    first = [txn("A", "RCP", -100, day, rule="exact", txid=kept)] + \
        [txn("A", "RCP", -1, day, rule="exact") for _ in range(n - 1)]
    await reporting.apply(*first)  # by COPY
    assert await reporting.rows("select amount_pence, count from daily_totals where metric = 'receipt'") == [(100 + n - 1, n)]
    again = first[0]._replace(envelope=first[0].envelope.model_copy(update={"event_id": uuid.uuid4()}))
    await reporting.apply(*[txn("B", "RCP", -10, day, rule="exact") for _ in range(n)], again)
    assert await reporting.rows("select count(*) from postings") == [(2 * n,)]
    assert await reporting.rows("select account_ref, balance_pence from account_balance_daily order by 1") == [
        ("A", -(100 + n - 1)), ("B", -10 * n)]
    assert await reporting.rows("select amount_pence, count from daily_totals where metric = 'receipt'") == [
        (100 + n - 1 + 10 * n, 2 * n)]


async def test_ids_counted_before_the_postings_table_are_not_counted_again(reporting):
    """A database from before revision 0002 has the ids it had counted in seen_transactions, not in
    postings: a posting with one of them, in a batch of any size, is not counted again."""
    day, counted = D(2026, 10, 14), uuid.uuid4()
    await reporting.rows("insert into seen_transactions values ($1, 'A', $2)", counted, day)
    for size in (1, repo.COPY_POSTINGS):
        await reporting.apply(txn("A", "RCP", -100, day, rule="exact", txid=counted),
                              *[txn("A", "RCP", -1, day, rule="exact") for _ in range(size - 1)])
    assert await reporting.rows("select count(*) from postings where transaction_id = $1", counted) == [(0,)]
    assert await reporting.rows("select amount_pence, count from daily_totals where metric = 'receipt'") == [
        (repo.COPY_POSTINGS - 1, repo.COPY_POSTINGS - 1)]


async def test_two_transactions_giving_an_account_the_same_new_day_both_count(reporting):
    """Two instances' batches both give account A its first row of 14 Oct (the first one of 15 Oct
    too): the second waits on the first's insert, finds the rows there when it commits, and adds its
    own movement to both."""
    from rentflow_reporting.domain.aggregation import LAST_DAY
    await reporting.apply(txn("A", "DBR", 1000, D(2026, 10, 13)))
    async with UnitOfWork(reporting.engine) as first, UnitOfWork(reporting.engine) as second:
        assert await repo.add_balance_movements(first.raw, [("A", D(2026, 10, 14), D(2026, 10, 15), -100),
                                                            ("A", D(2026, 10, 15), LAST_DAY, -130)]) == ["A", "A"]
        waiting = asyncio.ensure_future(repo.add_balance_movements(second.raw, [("A", D(2026, 10, 14), LAST_DAY, -50)]))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # on the first's uncommitted row
        await first.commit()
        assert await waiting == []  # not given a row: the first gave it
        await second.commit()
    assert await reporting.rows("select business_date, balance_pence from account_balance_daily order by 1") == [
        (D(2026, 10, 13), 1000), (D(2026, 10, 14), 850), (D(2026, 10, 15), 820)]


async def test_the_tables_keyed_by_account_compare_it_byte_by_byte(reporting):
    """postings, account_balance_daily and account_state hold account_ref in collation "C" (revision
    0009): index searches on it compare bytes, not strcoll, and the three still join on it."""
    assert await reporting.rows(
        "select table_name, collation_name from information_schema.columns"
        " where table_schema = 'reporting' and column_name = 'account_ref'"
        " and table_name in ('postings', 'account_balance_daily', 'account_state') order by 1") == [
        ("account_balance_daily", "C"), ("account_state", "C"), ("postings", "C")]
    day = D(2026, 10, 14)
    await reporting.apply(txn("b", "DBR", 500, day), txn("B", "DBR", 300, day), txn("a", "DBR", 100, day))
    async with UnitOfWork(reporting.engine) as uow:
        listed = await repo.statement_accounts(uow.raw, day, day, "", 10)
        posted = await repo.statement_postings(uow.raw, ["B", "a"], day, day)
    assert [(r["account_ref"], r["closing"]) for r in listed] == [("B", 300), ("a", 100), ("b", 500)]
    assert [(r["account_ref"], r["amount_pence"]) for r in posted] == [("B", 300), ("a", 100)]
