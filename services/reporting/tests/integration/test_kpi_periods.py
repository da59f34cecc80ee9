"""A financial year of hand-built ledger events on real PostgreSQL (no broker): the quarter and
year snapshots carry every docs/contract.md key with the figures in the comments, and the scheduler
takes each kind of period's snapshot once, after the period has ended."""
from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from rentflow_common.testing import Incoming
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.migrations import upgrade_async
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import AccountUpserted, SuspenseEvent, TransactionPosted

from rentflow_reporting.bootstrap import MIGRATIONS
from rentflow_reporting.service_layer.handlers import (annual_return, apply_ledger_events, read_kpis,
                                                       record_snapshot)
from rentflow_reporting.service_layer.scheduler import SnapshotScheduler

UTC = dt.timezone.utc
D = dt.date
CONTRACT_KEYS = {
    "period", "period_start", "period_end", "debit_pence", "collected_pence", "arrears_brought_forward_pence",
    "rent_collected_pct_excl_arrears_bf", "rent_collected_pct_incl_arrears_bf", "current_tenant_arrears_pence",
    "current_tenant_arrears_pct", "former_tenant_arrears_pence", "former_tenant_arrears_pct", "written_off_pence",
    "written_off_pct", "dd_take_up_pct", "dd_failures", "dd_failure_rate_pct", "suspense_count", "suspense_pence",
    "tenants_over_7_weeks_arrears", "collected_by_channel",
}


def _incoming(topic, key, data, event_type):
    return Incoming(topic, 0, 0, key, new_envelope(data, event_type=event_type, event_id=uuid.uuid4(),
                                                   producer="ledger", correlation_id="c"))


def txn(account, code, amount, day, *, rule=None, channel=None, source="s"):
    data = TransactionPosted(transaction_id=uuid.uuid4(), account_ref=account, type_code=code, amount_pence=amount,
                             balance_after_pence=0, posted_at=dt.datetime.combine(day, dt.time(12), UTC),
                             business_date=day, period=f"{day:%Y-%m}", source_ref=source, channel=channel,
                             allocation_rule=rule)
    return _incoming("ledger.transactions.v1", account, data, "ledger.transaction_posted")


def account(ref, rent, method, end=None):
    data = AccountUpserted(account_ref=ref, property=f"{ref} Road", patch="P", tenant_name=f"Tenant {ref}",
                           tenancy_start=D(2020, 1, 6), tenancy_end=end, weekly_rent_pence=rent,
                           payment_method=method, balance_pence=0)
    return _incoming("ledger.accounts.v1", ref, data, "ledger.account_upserted")


def year_of_events():
    opened = SuspenseEvent(action="opened", payment_id=uuid.uuid4(), amount_pence=700, channel="cash", reference="?",
                           received_at=dt.datetime(2027, 3, 29, 10, tzinfo=UTC), reason="no match")
    return [
        account("A", 10000, "dd"), account("B", 12000, "so", end=D(2026, 12, 31)),
        txn("A", "BBF", 5000, D(2026, 3, 31), source="opening-balance"),
        txn("B", "BBF", 2000, D(2026, 3, 31), source="opening-balance"),
        txn("A", "DBR", 10000, D(2026, 5, 4)), txn("B", "DBR", 12000, D(2026, 5, 4)),
        txn("A", "RDD", -10000, D(2026, 5, 5), rule="dd_reference", channel="direct_debit"),
        txn("B", "RSO", -12000, D(2026, 5, 6), rule="exact_reference", channel="standing_order"),
        txn("A", "DBR", 10000, D(2026, 10, 5)), txn("B", "DBR", 12000, D(2026, 10, 5)),
        txn("A", "RDD", -10000, D(2026, 10, 6), rule="dd_reference", channel="direct_debit"),
        txn("A", "RDN", 10000, D(2026, 10, 9), channel="direct_debit"),
        txn("A", "DBR", 10000, D(2027, 1, 4)),
        txn("B", "WOF", -14000, D(2027, 2, 1)),
        txn("A", "WON", -500, D(2027, 3, 22)),  # a credit adjustment: not a write-off
        _incoming("ledger.suspense.v1", str(opened.payment_id), opened, "ledger.suspense"),
    ]


async def test_quarter_and_year_and_the_period_end_snapshots(database_url):
    await upgrade_async(MIGRATIONS, database_url, "reporting")
    engine = make_engine(database_url, schema="reporting")
    try:
        async with UnitOfWork(engine) as uow:
            await apply_ledger_events(uow, year_of_events())
            await uow.commit()

        async def snapshot(kind, as_of):
            async with UnitOfWork(engine) as reader:  # as GET /v1/kpi does
                computed = await read_kpis(reader, kind, as_of)
            async with UnitOfWork(engine) as uow:
                s = await record_snapshot(uow, computed)
                await uow.commit()
            return s

        y = await snapshot("year", D(2027, 3, 31))
        assert CONTRACT_KEYS <= set(y) and CONTRACT_KEYS <= set(y["definitions"])  # each stated
        assert (y["period"], y["period_start"], y["period_end"], y["complete"]) == ("year", D(2026, 4, 1),
                                                                                    D(2027, 3, 31), True)
        assert y["debit_pence"] == 54000                     # A 3 × 10000 + B 2 × 12000
        assert y["collected_pence"] == 22700                 # 10000 + 12000 + 10000 − 10000 (RDN) + 700 suspense
        assert y["collected_by_channel"] == {"cash": 700, "direct_debit": 10000, "standing_order": 12000}
        assert y["arrears_brought_forward_pence"] == 7000    # 31 Mar 2026: A 5000 + B 2000
        assert y["rent_collected_pct_excl_arrears_bf"] == Decimal("42.04")   # 22700 / 54000 = 42.037…
        assert y["rent_collected_pct_incl_arrears_bf"] == Decimal("37.21")   # 22700 / 61000 = 37.213…
        # A at 31 Mar 2027: 5000 + 10000 − 10000 + 10000 − 10000 + 10000 + 10000 − 500 = 24500
        assert y["current_tenant_arrears_pence"] == 24500
        assert y["former_tenant_arrears_pence"] == 0          # B: 2000 + 12000 − 12000 + 12000 − 14000
        assert y["annual_rent_debit_pence"] == 520000         # A only is current: 10000 × 52
        assert y["current_tenant_arrears_pct"] == Decimal("4.71")   # 24500 / 520000 = 4.711…
        assert y["former_tenant_arrears_pct"] == Decimal("0.00")
        assert y["written_off_pence"] == 14000                # the WON −500 is not a write-off
        assert y["written_off_pct"] == Decimal("2.69")        # 14000 / 520000 = 2.692…
        assert y["dd_take_up_pct"] == Decimal("100.00")       # A (dd) of A
        assert (y["dd_failures"], y["dd_collections_presented"]) == (1, 2)
        assert y["dd_failure_rate_pct"] == Decimal("50.00")
        assert (y["suspense_count"], y["suspense_pence"]) == (1, 700)
        assert y["tenants_over_7_weeks_arrears"] == 0         # 24500 < 7 × 10000

        q = await snapshot("quarter", D(2026, 12, 31))        # Q3: October–December 2026
        assert (q["period_start"], q["period_end"], q["complete"]) == (D(2026, 10, 1), D(2026, 12, 31), True)
        assert (q["debit_pence"], q["collected_pence"]) == (22000, 0)   # RDD 10000 then RDN 10000
        assert q["collected_by_channel"] == {"direct_debit": 0}
        assert q["arrears_brought_forward_pence"] == 7000     # 30 Sep: A 5000, B 2000 (May's debits paid)
        assert q["rent_collected_pct_excl_arrears_bf"] == Decimal("0.00")
        # 31 Dec: A 5000 + 10000 − 10000 + 10000 = 15000 current; B 14000, its tenancy ended that day: former
        assert (q["current_tenant_arrears_pence"], q["former_tenant_arrears_pence"]) == (15000, 14000)
        assert q["former_tenant_arrears_pct"] == Decimal("2.69")  # 14000 / 520000
        assert (q["dd_failures"], q["dd_failure_rate_pct"]) == (1, Decimal("100.00"))

        async with UnitOfWork(engine) as uow:
            lahs = await annual_return(uow, "lahs", 2026, D(2027, 4, 1))
            bench = await annual_return(uow, "benchmark", 2026, D(2027, 4, 1))
            running = await annual_return(uow, "lahs", 2026, D(2026, 12, 31))
        figures = {i["item"]: i["value"] for i in lahs["items"]}
        assert (lahs["year"], lahs["complete"]) == ("2026/27", True)
        assert figures == {"rent_due": 54000, "rent_due_rent_only": 54000, "rent_collected": 22700,
                           "rent_collected_pct": Decimal("42.04"), "arrears_brought_forward": 7000,
                           "current_tenant_arrears": 24500, "current_tenancies_in_arrears": 1,
                           "tenancies_over_7_weeks_arrears": 0, "former_tenant_arrears": 0, "written_off": 14000}
        assert all(i["definition"] for i in lahs["items"] + bench["items"])
        b = {i["item"]: i["value"] for i in bench["items"]}
        assert b["current_tenant_arrears_pct_of_debit"] == Decimal("45.37")  # 24500 / 54000 (the year's debit)
        assert b["written_off_pct_of_debit"] == Decimal("25.93")             # 14000 / 54000 = 25.925…
        assert b["rent_collected_pct_incl_arrears_bf"] == Decimal("37.21")
        assert (running["complete"], running["through"]) == (False, D(2026, 12, 31))

        async def outbox():
            async with engine.connect() as c:
                raw = (await c.get_raw_connection()).driver_connection
                return await raw.fetchval("select count(*) from outbox where topic = 'reporting.kpi-snapshots.v1'")

        before = await outbox()
        scheduler = SnapshotScheduler(lambda: UnitOfWork(engine, producer="reporting"), today=lambda: D(2027, 4, 1))
        taken = {s["period"]: s for s in await scheduler.snapshot_period_ends()}
        # on 1 Apr 2027 the latest ended: week Mon 22 – Sun 28 Mar, March, Q4 (Jan–Mar), the year 2026/27
        assert {k: (s["period_start"], s["period_end"], s["complete"]) for k, s in taken.items()} == {
            "week": (D(2027, 3, 22), D(2027, 3, 28), True), "month": (D(2027, 3, 1), D(2027, 3, 31), True),
            "quarter": (D(2027, 1, 1), D(2027, 3, 31), True), "year": (D(2026, 4, 1), D(2027, 3, 31), True)}
        assert (taken["quarter"]["debit_pence"], taken["quarter"]["written_off_pence"]) == (10000, 14000)
        assert taken["year"]["snapshot_id"] == y["snapshot_id"]   # the same figures as asked for: one snapshot
        assert await outbox() == before + 3                        # week, month, quarter new; the year was sent
        assert await scheduler.snapshot_period_ends() == []        # once per period
        assert await outbox() == before + 3
        # before any period with data has ended there is nothing to take
        assert await SnapshotScheduler(lambda: UnitOfWork(engine, producer="reporting"), today=lambda: D(2026, 5, 4)).snapshot_period_ends() == []
    finally:
        await engine.dispose()
