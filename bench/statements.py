"""Quarterly rent statements for a landlord: time to write every account's PDF and CSV.

    ./dev bench statements [--accounts 5000] [--chunk 250]

Starts the database the way `rentflow up` does (environment first, else the embedded
default) in a temporary home, feeds reporting's consumer handler a quarter of ledger events
(an opening balance, 13 weekly rent debits and 13 payments per account, in batches of 2,000 as
the consumer would), then runs the statement run as the service does (chunks read from
PostgreSQL, rendered in a worker thread) and prints statements/s, pages and peak memory."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import time
import uuid

from harness import start_run
from rentflow_common.audit import AUDIT_DDL
from rentflow_common.testing import Incoming
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.migrations import upgrade_async
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import AccountUpserted, TransactionPosted

from rentflow_reporting.bootstrap import MIGRATIONS
from rentflow_reporting.domain.statements import parse_quarter
from rentflow_reporting.service_layer.handlers import apply_ledger_events
from rentflow_reporting.service_layer.statements import StatementRuns

UTC = dt.timezone.utc
QUARTER = "2026-Q3"


def quarter_events(accounts: int):
    q = parse_quarter(QUARTER)

    def env(topic, key, data, event_type):
        return Incoming(topic, 0, 0, key, new_envelope(data, event_type=event_type, event_id=uuid.uuid4(),
                                                       producer="ledger", correlation_id="bench"))

    def txn(ref, code, amount, day, minute):
        return env("ledger.transactions.v1", ref, TransactionPosted(
            transaction_id=uuid.uuid4(), account_ref=ref, type_code=code, amount_pence=amount, balance_after_pence=0,
            posted_at=dt.datetime.combine(day, dt.time(9, minute), UTC), business_date=day, period=f"{day:%Y-%m}",
            source_ref="bench"), "ledger.transaction_posted")

    for i in range(accounts):
        ref = f"1{i:07d}"
        rent = 11500 + (i % 20) * 50
        yield env("ledger.accounts.v1", ref, AccountUpserted(
            account_ref=ref, property=f"{i + 1} Long Road", patch=f"P{i % 6}", tenant_name=f"Tenant {i + 1}",
            tenancy_start=dt.date(2015, 4, 6), weekly_rent_pence=rent, payment_method="dd",
            balance_pence=0), "ledger.account_upserted")
        yield txn(ref, "BBF", (i % 7) * 1000, dt.date(2026, 3, 31), 0)
        for w in range(13):
            monday = q.start + dt.timedelta(days=(7 - q.start.weekday()) % 7 + 7 * w)
            yield txn(ref, "DBR", rent, monday, 1)
            yield txn(ref, "RDD", -rent, monday + dt.timedelta(days=1), 2)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=5000)
    ap.add_argument("--chunk", type=int, default=250)
    args = ap.parse_args()
    infra = await start_run(log=lambda m: None, topics=False, home_prefix="rentflow-bench-statements-")
    home, url = infra.home, infra.db_url
    engine = None
    try:
        await upgrade_async(MIGRATIONS, url, "reporting")
        engine = make_engine(url, schema="reporting")
        async with UnitOfWork(engine) as uow:  # the audit trail a run writes to (as the service makes it)
            for ddl in AUDIT_DDL:
                await uow.raw.execute(ddl)
            await uow.commit()
        t0 = time.perf_counter()
        batch: list[Incoming] = []
        events = 0
        for item in quarter_events(args.accounts):
            batch.append(item)
            if len(batch) == 2000:
                async with UnitOfWork(engine) as uow:
                    await apply_ledger_events(uow, batch)
                    await uow.commit()
                events += len(batch)
                batch = []
        if batch:
            async with UnitOfWork(engine) as uow:
                await apply_ledger_events(uow, batch)
                await uow.commit()
            events += len(batch)
        load_s = time.perf_counter() - t0

        runs = StatementRuns(engine, home / "statements", chunk_size=args.chunk, landlord="Bench District Council")
        t1 = time.perf_counter()
        run = await runs.start(QUARTER)
        out = run.output_dir
        while run.status == "running":
            await asyncio.sleep(0.2)
        run_s = time.perf_counter() - t1
        assert run.status == "done", run.error
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{events:,} ledger events into reporting's aggregates and postings in {load_s:.1f} s "
              f"({events / load_s:,.0f} events/s)")
        print(f"{run.written:,} statements ({run.pdf_pages:,} PDF pages, PDF + CSV each, {size / 1e6:.1f} MB) "
              f"in {run_s:.1f} s: {run.written / run_s:,.0f} statements/s; closing mismatches {run.mismatch_count}; "
              f"peak RSS of this process {peak_mb:.0f} MB")
    finally:
        if engine is not None:
            await engine.dispose()
        await infra.close()


if __name__ == "__main__":
    asyncio.run(main())
