"""Units of work really are transactions: concurrent batches on the same accounts keep every
balance, and a failure leaves nothing behind. Real PostgreSQL, handlers called directly."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import orjson
import pytest

from rentflow_common.testing import Incoming
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.inbox import claim_new
from rentflow_common.migrations import upgrade_async
from rentflow_ledger.bootstrap import MIGRATIONS
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.service_layer.accounts import upsert_accounts
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer.receipts import handle_payments_received
from rentflow_ledger.service_layer.unit_of_work import SqlLedgerUnitOfWork
from rentflow_schemas import new_envelope
from rentflow_schemas.payments import PaymentReceived

UTC = dt.timezone.utc
REFS = [f"R{i}" for i in range(5)]


@pytest.fixture
async def engine(database_url):
    await upgrade_async(MIGRATIONS, database_url, "ledger")
    engine = make_engine(database_url, "ledger")
    async with UnitOfWork(engine) as uow:
        await upsert_accounts(uow, [AccountRecord(r, "T", "P", "N", dt.date(2026, 4, 6), None, 10000, 0, None, None,
                                                  None, dt.date(2026, 4, 5), 0) for r in REFS], "test")
        await uow.commit()
    yield engine
    await engine.dispose()


def batch(n: int, tag: str) -> list[Incoming]:
    at = dt.datetime(2026, 4, 7, 9, tzinfo=UTC)
    out = []
    for i in range(n):
        data = PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"{tag}{i}", channel="card",
                               amount_pence=100 + i, paid_at=at, received_at=at, reference=REFS[i % len(REFS)])
        out.append(Incoming("payments.received.v1", 0, i, None, new_envelope(
            data, event_type="payments.received", event_id=uuid.uuid4(), producer="t", correlation_id="c")))
    return out


async def test_concurrent_batches_on_the_same_accounts_lose_no_balance(engine):
    batches = [batch(200, f"b{k}-") for k in range(4)]

    async def run(items):
        async with UnitOfWork(engine) as uow:
            await handle_payments_received(SqlLedgerUnitOfWork(uow), [TakePayment.of(i) for i in items])
            await asyncio.sleep(0.05)  # hold the locks a while: the others must wait, not overwrite
            await uow.commit()

    await asyncio.gather(*(run(b) for b in batches))
    async with UnitOfWork(engine) as uow:
        rows = await uow.raw.fetch("select account_ref, balance_pence from accounts order by 1")
        sums = dict(await uow.raw.fetch("select account_ref, sum(amount_pence) from transactions group by 1"))
        chains = await uow.raw.fetch("select account_ref, amount_pence, balance_after_pence from transactions "
                                     "order by account_ref, seq")
    expected = -sum(i.envelope.data.amount_pence for b in batches for i in b) // 1
    assert sum(r["balance_pence"] for r in rows) == expected
    assert {r["account_ref"]: r["balance_pence"] for r in rows} == {k: int(v) for k, v in sums.items()}
    last: dict[str, int] = {}
    for c in chains:  # every balance_after follows the one before it on that account
        assert last.get(c["account_ref"], 0) + c["amount_pence"] == c["balance_after_pence"]
        last[c["account_ref"]] = c["balance_after_pence"]


async def test_batches_on_overlapping_accounts_in_any_order_never_deadlock(engine):
    """The receipts lock and move their accounts in one statement, in reference order whatever the
    order of the payments: batches naming overlapping accounts wait for each other, never deadlock
    (the handler is called directly here: no consumer would write a broken batch again)."""
    at = dt.datetime(2026, 4, 7, 9, tzinfo=UTC)

    def payments(refs: list[str], tag: str) -> list[TakePayment]:
        return [TakePayment.of(Incoming("payments.received.v1", 0, i, None, new_envelope(
            PaymentReceived(payment_id=uuid.uuid4(), provider_id="p", provider_ref=f"{tag}{i}", channel="card",
                            amount_pence=100 + i, paid_at=at, received_at=at, reference=ref),
            event_type="payments.received", event_id=uuid.uuid4(), producer="t", correlation_id="c")))
            for i, ref in enumerate(refs)]

    batches = [payments(REFS[k:] + REFS[:k][::-1], f"o{k}-") for k in range(len(REFS))]

    async def run(commands):
        async with UnitOfWork(engine) as uow:
            await handle_payments_received(SqlLedgerUnitOfWork(uow), commands)
            await asyncio.sleep(0.05)
            await uow.commit()

    await asyncio.gather(*(run(b) for b in batches))
    async with UnitOfWork(engine) as uow:
        chains = await uow.raw.fetch("select account_ref, amount_pence, balance_after_pence from transactions "
                                     "order by account_ref, seq")
        balances = dict(await uow.raw.fetch("select account_ref, balance_pence from accounts"))
    last: dict[str, int] = {}
    for c in chains:
        assert last.get(c["account_ref"], 0) + c["amount_pence"] == c["balance_after_pence"]
        last[c["account_ref"]] = c["balance_after_pence"]
    assert last == balances and len(chains) == len(REFS) ** 2


async def test_a_failed_unit_of_work_leaves_nothing(engine):
    items = batch(10, "f-")
    with pytest.raises(RuntimeError):
        async with UnitOfWork(engine) as uow:
            await handle_payments_received(SqlLedgerUnitOfWork(uow), [TakePayment.of(i) for i in items])
            raise RuntimeError("crash before commit")
    async with UnitOfWork(engine) as uow:
        assert await uow.raw.fetchval("select count(*) from transactions where payment_id is not null") == 0
        assert await uow.raw.fetchval("select count(*) from journal_lines where kind = 'receipt'") == 0
        assert await uow.raw.fetchval("select count(*) from outbox where topic = 'ledger.transactions.v1' "
                                      "and convert_from(payload, 'UTF8') like '%RCP%'") == 0
        assert await uow.raw.fetchval("select sum(balance_pence) from accounts") == 0


async def test_library_inbox_claim_rolls_back_with_its_unit_of_work(engine):
    event_id = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(engine) as uow:
            await claim_new(uow.raw, [event_id])  # what BatchConsumer does before calling the handler
            raise RuntimeError("handler failed")
    async with UnitOfWork(engine) as uow:
        assert await uow.raw.fetchval("select count(*) from inbox where event_id = $1", event_id) == 0


async def test_a_posting_commits_once_so_its_outbox_row_needs_no_duplicate_check(engine):
    """A TransactionPosted goes out only with the insert of its transactions row, whose primary key
    is the posting's identity: its outbox row leaves event_id null (the relay's duplicate probe skips
    it), and the same payments taken again in another unit of work post and emit nothing twice."""
    items = batch(10, "o-")
    for _ in range(2):
        try:
            async with UnitOfWork(engine) as uow:
                await handle_payments_received(SqlLedgerUnitOfWork(uow), [TakePayment.of(i) for i in items])
                await uow.commit()
        except Exception as exc:  # the second time: the transactions' primary key refuses the repeat
            assert "duplicate key" in str(exc) or "unique" in str(exc).lower(), exc
    async with UnitOfWork(engine) as uow:
        rows = await uow.raw.fetch("select topic, event_id, headers from outbox order by id")
    postings = [r for r in rows if r["topic"] == "ledger.transactions.v1"]
    assert len(postings) == 10 and all(r["event_id"] is None for r in postings)
    assert len({orjson.loads(r["headers"])["event_id"] for r in postings}) == 10
    journals = [r for r in rows if r["topic"] == "gl.journals.v1"]
    assert journals and all(r["event_id"] is not None for r in journals)  # other events keep the check


async def test_an_account_is_read_as_of_one_moment_whatever_commits_meanwhile(engine):
    """GET /v1/accounts/{ref} reads the balance, the mandate and the transactions in three statements:
    one snapshot, so a batch committed between them cannot show a balance without its postings (the
    service test saw exactly that once under load)."""
    from rentflow_ledger.adapters import views

    async with UnitOfWork(engine) as reader:
        before = await views.get_account(reader.raw, "R0")
        async with UnitOfWork(engine) as writer:
            await handle_payments_received(SqlLedgerUnitOfWork(writer), [TakePayment.of(i) for i in batch(5, "s")])
            await writer.commit()
        # the rest of the reader's transaction still sees the moment of its first read
        assert await reader.raw.fetchval("select balance_pence from accounts where account_ref = 'R0'") \
            == before["balance_pence"]
        assert await reader.raw.fetchval("select count(*) from transactions where account_ref = 'R0'") \
            == len(before["transactions"])
    async with UnitOfWork(engine) as reader:
        after = await views.get_account(reader.raw, "R0")
    assert after["balance_pence"] == before["balance_pence"] - 100 == after["transactions"][-1]["balance_after_pence"]


async def _views_meeting_a_commit(engine, view, commit):
    """`view(raw)` read once alone, then again with `commit` committed by another transaction right after
    the view's first read: (alone, met)."""
    from rentflow_common.testing import CommitAfterRead

    async with UnitOfWork(engine) as reader:
        alone = await view(reader.raw)
    async with UnitOfWork(engine) as reader:
        raw = CommitAfterRead(reader.raw, commit)
        met = await view(raw)
    assert raw.committed
    return alone, met


def _commits_a_batch(engine, tag):
    async def commit():
        async with UnitOfWork(engine) as writer:
            await handle_payments_received(SqlLedgerUnitOfWork(writer), [TakePayment.of(i) for i in batch(5, tag)])
            await writer.commit()
    return commit


async def test_the_invariants_and_the_month_end_reconciliation_are_read_as_of_one_moment(engine):
    """The books checked in several statements: a batch committed between them must not show them
    unbalanced (read committed, the balances were read before it and the control account after)."""
    from rentflow_ledger.adapters import views

    await _commits_a_batch(engine, "first")()
    alone, met = await _views_meeting_a_commit(engine, views.invariants, _commits_a_batch(engine, "inv"))
    assert met == alone and met["balanced"]
    alone, met = await _views_meeting_a_commit(engine, lambda raw: views.reconcile(raw, "2026-04"),
                                               _commits_a_batch(engine, "rec"))
    assert met == alone and met["balanced"] and met["differences"] == []
    assert met["accounts_total_pence"] == met["control_account_pence"] == -(5 * 100 + 10) * 2


async def test_the_days_gl_batch_counts_the_journals_it_totals(engine):
    from rentflow_ledger.adapters import views
    from rentflow_ledger.domain.posting import LONDON

    await _commits_a_batch(engine, "first")()
    async with UnitOfWork(engine) as uow:
        day = (await uow.raw.fetchval("select max(posted_at) from journal_lines")).astimezone(LONDON).date()
    alone, met = await _views_meeting_a_commit(engine, lambda raw: views.gl_daily(raw, day),
                                               _commits_a_batch(engine, "gl"))
    assert met == alone and met["balanced"] and met["journals"] > 0


async def test_a_page_of_accounts_and_its_total_are_of_one_moment(engine):
    """An import committed between the page and its count must not give a total that is not the page's."""
    from rentflow_ledger.adapters import views

    async def imports():
        async with UnitOfWork(engine) as writer:
            await upsert_accounts(writer, [AccountRecord(f"N{i}", "T", "P", "N", dt.date(2026, 4, 6), None, 10000, 0,
                                                         None, None, None, dt.date(2026, 4, 5), 0) for i in range(3)],
                                  "test")
            await writer.commit()

    alone, met = await _views_meeting_a_commit(engine, lambda raw: views.list_accounts(raw, 100, 0), imports)
    assert met == alone and met["total"] == len(met["accounts"]) == len(REFS)


async def test_the_cash_books_lumps_and_finance_items_are_of_one_moment(engine):
    """A finance item opened (or resolved with its lump) by a batch committed between the cash book's two
    reads must not show without its lump."""
    from rentflow_ledger.adapters import views
    from rentflow_ledger.adapters.reconciliation import SqlUnreconciled

    async def opens_an_item():
        async with UnitOfWork(engine) as writer:
            await SqlUnreconciled(writer.raw).open([(uuid.uuid4(), "cash_settlement", 1200, "PAYPOINT 0412",
                                                     dt.date(2026, 4, 7), "no detail", dt.datetime.now(UTC))])
            await writer.commit()

    await opens_an_item()
    alone, met = await _views_meeting_a_commit(engine, lambda raw: views.cash_book(raw, "all", "open", 1000),
                                               opens_an_item)
    assert met == alone and len(met[1]) == 1


async def test_a_page_of_accounts_after_a_reference_is_not_shifted_by_an_import(engine):
    """`after` pages by the last reference seen (`rentflow accounts list`): an account imported before it
    meanwhile does not bring back one already listed, as an offset does."""
    from rentflow_ledger.adapters import views

    async with UnitOfWork(engine) as reader:
        first = await views.list_accounts(reader.raw, 2, 0)
    async with UnitOfWork(engine) as writer:
        await upsert_accounts(writer, [AccountRecord("A0", "T", "P", "N", dt.date(2026, 4, 6), None, 10000, 0, None,
                                                     None, None, dt.date(2026, 4, 5), 0)], "test")
        await writer.commit()
    async with UnitOfWork(engine) as reader:
        by_offset = await views.list_accounts(reader.raw, 2, 2)
    async with UnitOfWork(engine) as reader:
        after = await views.list_accounts(reader.raw, 2, 0, after=first["accounts"][-1]["account_ref"])
    assert [a["account_ref"] for a in first["accounts"]] == ["R0", "R1"]
    assert [a["account_ref"] for a in by_offset["accounts"]] == ["R1", "R2"]  # R1 again
    assert [a["account_ref"] for a in after["accounts"]] == ["R2", "R3"] and after["total"] == len(REFS) + 1


async def test_the_consumers_handler_posts_only_what_was_not_taken_before(engine):
    """The consumer's own handler on a batch of which some payments were taken before (carried again by
    other events): only the rest are posted, put in suspense and emitted, and the books balance."""
    from rentflow_ledger.entrypoints.consumers import handlers

    handle = handlers(None)["payments.received.v1"]
    unknown = batch(3, "u-")  # references no account has: suspense
    unknown = [i._replace(envelope=i.envelope.model_copy(update={"data": i.data.model_copy(
        update={"reference": f"NOPE{n}"})})) for n, i in enumerate(unknown)]
    first = batch(6, "a-") + unknown[:2]
    async with UnitOfWork(engine) as uow:
        await handle(uow, first)
        await uow.commit()
    again = [i._replace(envelope=i.envelope.model_copy(update={"event_id": uuid.uuid4()})) for i in first[::2]]
    fresh = batch(4, "b-") + unknown[2:]
    async with UnitOfWork(engine) as uow:
        await handle(uow, again + fresh)
        await uow.commit()
    async with UnitOfWork(engine) as uow:
        raw = uow.raw
        posted = {r[0] for r in await raw.fetch("select payment_id from transactions where payment_id is not null")}
        held = {r[0] for r in await raw.fetch("select payment_id from suspense")}
        events = await raw.fetch("select topic, count(*) from outbox group by topic")
        balances = await raw.fetchval("select sum(balance_pence) from accounts")
        control = await raw.fetchval("select sum(debit_pence - credit_pence) from journal_lines "
                                     "where gl_code = 'DEBTORS_CONTROL'")
    identified = [i.data for i in first[:6] + fresh[:4]]
    assert posted == {p.payment_id for p in identified}
    assert held == {i.data.payment_id for i in unknown}
    assert dict((r[0], r[1]) for r in events)["ledger.transactions.v1"] == 10
    assert balances == -sum(p.amount_pence for p in identified) == control
