"""The debit run writes its TransactionPosted rows to the outbox itself (plain dicts encoded once,
its hot path): each must be, byte for byte, the row the ledger's unit of work writes for the same
event, and the event must validate against its schema."""
from __future__ import annotations

import datetime as dt

import orjson

from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.events import encode
from rentflow_common.migrations import upgrade_async
from rentflow_ledger.bootstrap import MIGRATIONS
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.service_layer.accounts import upsert_accounts
from rentflow_ledger.service_layer.debits import debit_transaction_id, run_debits
from rentflow_ledger.service_layer.periods import close_period
from rentflow_ledger.service_layer.unit_of_work import ledger_uow
from rentflow_schemas.ledger import JournalPosted, TransactionPosted

D = dt.date


def accounts() -> list[AccountRecord]:
    return [
        AccountRecord("10000001", "A", "1 Road", "North", D(2026, 4, 6), None, 9000, 700, "so", None, None,
                      D(2026, 4, 5), 0),
        AccountRecord("10000002", "B", "2 Road", "North", D(2026, 4, 8), D(2026, 5, 13), 9100, 0, "so", None, None,
                      D(2026, 4, 7), 1500),  # part weeks at both ends
        AccountRecord("10000003", "C", "3 Road", "North", D(2025, 1, 6), None, 12345, 321, "so", None, None,
                      D(2026, 4, 19), -250),  # starts later: a balance date in the year
    ]


async def test_debit_run_outbox_rows_are_what_emit_writes(database_url):
    await upgrade_async(MIGRATIONS, database_url, "ledger")
    engine = make_engine(database_url, "ledger")
    try:
        async with UnitOfWork(engine) as uow:
            await upsert_accounts(uow, accounts(), "test")
            await uow.commit()
        async with UnitOfWork(engine) as uow:
            await close_period(ledger_uow(uow), "2026-04", "test")  # April's weeks are booked in May
            await uow.commit()
        async with UnitOfWork(engine) as uow:
            await uow.raw.execute("delete from outbox")
            await uow.commit()
        result = await run_debits(lambda: UnitOfWork(engine, producer="ledger"), D(2026, 6, 7), chunk=2,
                                  correlation_id="debit-run:test", in_flight=2)
        async with UnitOfWork(engine) as uow:
            rows = await uow.raw.fetch("select topic, key, payload, headers, event_id from outbox order by id")
            txns = {r["transaction_id"]: r for r in await uow.raw.fetch(
                "select * from transactions where week_start is not null")}
    finally:
        await engine.dispose()

    posted = [r for r in rows if r["topic"] == "ledger.transactions.v1"]
    assert result.debits_raised == len(posted) == len(txns) > 20
    assert len(rows) - len(posted) >= 2  # and the journals
    assert {t["period"] for t in txns.values() if t["business_date"].month == 4} == {"2026-05"}
    for r in rows:
        envelope = orjson.loads(r["payload"])
        model = TransactionPosted if r["topic"] == "ledger.transactions.v1" else JournalPosted
        event = model.model_validate(envelope["data"])
        expected = encode(event, producer="ledger", correlation_id="debit-run:test",
                          occurred_at=dt.datetime.fromisoformat(envelope["occurred_at"]))
        # a posting's row is `once`, as the ledger's unit of work writes every posting's: its id is in the
        # payload and headers, not in the outbox's event_id (which the relay's duplicate check indexes)
        assert (r["topic"], r["key"].decode(), r["payload"], orjson.loads(r["headers"]), r["event_id"]) == (
            expected.topic, expected.key, expected.payload, expected.headers,
            None if model is TransactionPosted else expected.event_id)
        if model is TransactionPosted:
            t = txns[event.transaction_id]
            assert event.transaction_id == debit_transaction_id(t["account_ref"], t["type_code"], t["week_start"])
            assert (event.account_ref, event.type_code, event.amount_pence, event.balance_after_pence,
                    event.business_date, event.period, event.source_ref, event.week_start, event.posted_at) == (
                t["account_ref"], t["type_code"], t["amount_pence"], t["balance_after_pence"], t["business_date"],
                t["period"], t["source_ref"], t["week_start"], t["posted_at"])
