"""Reporting's views read in several statements (KPI figures, annual returns, a chunk of statements):
each is read as of one moment, so a consumer batch committed between two of its reads changes nothing
in it. The batch is committed by another transaction right after a chosen read, on real PostgreSQL."""
from __future__ import annotations

import datetime as dt
import types
import uuid

import pytest

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.migrations import upgrade_async
from rentflow_common.testing import CommitAfterRead, Incoming
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import AccountUpserted, TransactionPosted

from rentflow_reporting.adapters import repository
from rentflow_reporting.bootstrap import MIGRATIONS
from rentflow_reporting.domain.statements import parse_quarter
from rentflow_reporting.service_layer.handlers import annual_return, apply_ledger_events, read_kpis
from rentflow_reporting.service_layer.statements import load_chunk

UTC = dt.timezone.utc
D = dt.date


def _incoming(topic, key, data, event_type):
    return Incoming(topic, 0, 0, key, new_envelope(data, event_type=event_type, event_id=uuid.uuid4(),
                                                   producer="ledger", correlation_id="c"))


def txn(account, code, amount, day, *, rule=None, channel=None):
    data = TransactionPosted(transaction_id=uuid.uuid4(), account_ref=account, type_code=code, amount_pence=amount,
                             balance_after_pence=0, posted_at=dt.datetime.combine(day, dt.time(12), UTC),
                             business_date=day, period=f"{day:%Y-%m}", source_ref="s", channel=channel,
                             allocation_rule=rule)
    return _incoming("ledger.transactions.v1", account, data, "ledger.transaction_posted")


def account(ref):
    data = AccountUpserted(account_ref=ref, property=f"{ref} Road", patch="P", tenant_name=f"Tenant {ref}",
                           tenancy_start=D(2020, 1, 6), tenancy_end=None, weekly_rent_pence=10000,
                           payment_method="dd", balance_pence=0)
    return _incoming("ledger.accounts.v1", ref, data, "ledger.account_upserted")


def receipts_and_debits():
    """A batch the ledger could send at any time: October's debit, a receipt and a return."""
    return [txn("A", "DBR", 10000, D(2026, 10, 12)),
            txn("A", "RDD", -10000, D(2026, 10, 13), rule="dd_reference", channel="direct_debit"),
            txn("B", "RCP", -4000, D(2026, 10, 14), rule="exact_reference", channel="card")]


@pytest.fixture
async def engine(database_url):
    await upgrade_async(MIGRATIONS, database_url, "reporting")
    engine = make_engine(database_url, schema="reporting")
    async with UnitOfWork(engine) as uow:
        await apply_ledger_events(uow, [
            account("A"), account("B"),
            txn("A", "BBF", 5000, D(2026, 3, 31)), txn("B", "BBF", 2000, D(2026, 3, 31)),
            txn("A", "DBR", 10000, D(2026, 10, 5)), txn("B", "DBR", 10000, D(2026, 10, 5)),
            txn("A", "RDD", -10000, D(2026, 10, 6), rule="dd_reference", channel="direct_debit")])
        await uow.commit()
    yield engine
    await engine.dispose()


def commits_a_batch(engine):
    async def commit():
        async with UnitOfWork(engine) as writer:
            await apply_ledger_events(writer, receipts_and_debits())
            await writer.commit()
    return commit


async def read_alone_and_meeting_a_commit(engine, view, after):
    """`view(uow)` read alone, then with a batch committed right after its `after`-th read: (alone, met)."""
    async with UnitOfWork(engine) as reader:
        alone = await view(reader)
    async with UnitOfWork(engine) as reader:
        raw = CommitAfterRead(reader.raw, commits_a_batch(engine), after=after)
        met = await view(types.SimpleNamespace(raw=raw))
    assert raw.committed
    return alone, met


async def test_the_kpi_figures_are_of_one_moment(engine):
    """read_kpis reads the period's totals, then the arrears position: a batch committed between them
    must not be in the arrears and missing from the collection (the 2nd read: the totals)."""
    alone, met = await read_alone_and_meeting_a_commit(
        engine, lambda uow: read_kpis(uow, "month", D(2026, 10, 31)), after=2)
    assert met == alone
    assert (met["debit_pence"], met["collected_pence"], met["current_tenant_arrears_pence"]) == (20000, 10000, 17000)
    async with UnitOfWork(engine) as reader:  # the batch is there for the next reader
        assert (await read_kpis(reader, "month", D(2026, 10, 31)))["debit_pence"] == 30000


async def test_an_annual_return_is_of_one_moment(engine):
    alone, met = await read_alone_and_meeting_a_commit(
        engine, lambda uow: annual_return(uow, "lahs", 2026, D(2026, 12, 31)), after=1)
    assert met == alone


async def test_a_chunk_of_statements_closes_on_the_balances_read_with_its_postings(engine, monkeypatch):
    """load_chunk reads the accounts' balances, then their postings: a batch committed between them
    gave statements whose lines do not add up to the closing balance, named as mismatches."""
    quarter = parse_quarter("2026-Q3")
    alone = await load_chunk(engine, quarter, "", 10)
    accounts = repository.statement_accounts

    async def accounts_then_a_batch(*args, **kw):
        found = await accounts(*args, **kw)
        await commits_a_batch(engine)()
        return found

    monkeypatch.setattr(repository, "statement_accounts", accounts_then_a_batch)
    met = await load_chunk(engine, quarter, "", 10)
    assert met == alone and met.mismatches == [] and len(met.statements) == 2


def meeting_a_commit(engine, after):
    """A unit-of-work factory for the scheduler: the first one it makes meets a batch committed right after
    its `after`-th read; the others are plain."""
    made = []

    class Meeting(UnitOfWork):
        async def __aenter__(self):
            await super().__aenter__()
            self.raw = CommitAfterRead(self.raw, commits_a_batch(engine), after=after)
            made.append(self.raw)
            return self

    return lambda: (UnitOfWork if made else Meeting)(engine, producer="reporting"), made


def content(snapshot):
    return {k: v for k, v in snapshot.items() if k not in ("taken_at", "snapshot_id")}


async def test_the_scheduled_snapshots_are_of_one_moment(engine):
    from rentflow_reporting.service_layer.scheduler import SnapshotScheduler

    october = lambda: D(2026, 10, 31)  # noqa: E731
    alone = await SnapshotScheduler(lambda: UnitOfWork(engine, producer="reporting"), today=october).snapshot_now()
    uow, made = meeting_a_commit(engine, after=1)  # after the totals, before the arrears position
    met = await SnapshotScheduler(uow, today=october).snapshot_now()
    assert made[0].committed and content(met) == content(alone) and met["snapshot_id"] == alone["snapshot_id"]

    async with UnitOfWork(engine) as reader:
        month_alone = await read_kpis(reader, "month", D(2026, 10, 31))

    uow, made = meeting_a_commit(engine, after=3)  # within the first period's figures
    taken = await SnapshotScheduler(uow).snapshot_period_ends(D(2026, 11, 1))
    assert made[0].committed
    assert [content(s) for s in taken if s["period"] == "month"] == [content(month_alone)]
