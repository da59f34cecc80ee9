"""The receipts handler's own CPU per payment, in one process, no stack: post_receipts on batches of
payments as the e2e bench sends them (five channels in turn, each naming one of 5,000 accounts; the
accounts' DD references make the direct debits' rung), with the repositories' statements replaced by
stubs that take the records the SQL adapters build (COPY records included) and send nothing.

    ./dev bench receipts [--batch 2000] [--rounds 7]

Figures are CPU time of this thread (thread_time) per payment, the median and best of --rounds
(each the best of 3 batches), and a digest of every outbox row and COPY record written, to compare
checkouts (run this file with another checkout's interpreter: `CHECKOUT/.venv/bin/python bench/receipts.py`)."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import random
import statistics
import time
import uuid
from typing import Any

from rentflow_common.consumer import envelope_reader
from rentflow_common.db import UnitOfWork
from rentflow_common.events import Cause, Emitter
from rentflow_ledger.adapters import sql
from rentflow_ledger.adapters.state import State
from rentflow_ledger.domain.allocation import ReferenceIndex
from rentflow_ledger.service_layer.commands import TakePayment
from rentflow_ledger.service_layer import receipts
from rentflow_ledger.service_layer.receipts import post_receipts
from rentflow_ledger.service_layer.unit_of_work import SqlLedgerUnitOfWork
from rentflow_schemas.payments import PaymentReceived

CHANNELS = ["card", "bank_transfer", "standing_order", "cash", "direct_debit"]
NOW = dt.datetime(2026, 10, 7, 10, 0, 1, 123456, tzinfo=dt.timezone.utc)


class FixedClock:
    """`dt` as receipts.py sees it, its now() fixed: the same rows every run, to compare by digest."""

    class datetime(dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> dt.datetime:  # type: ignore[override]
            return NOW

    def __getattr__(self, name: str) -> Any:
        return getattr(dt, name)


class Raw:
    """An asyncpg connection that keeps what a statement would have written and answers the one read."""

    def __init__(self, balances: dict[str, int]) -> None:
        self.balances = balances
        self.written: list[Any] = []

    async def copy_records_to_table(self, table: str, *, records: Any, columns: Any) -> None:
        self.written.append((table, list(records)))

    async def fetch(self, query: str, refs: list[str], deltas: list[int], at: Any) -> list[tuple[Any, ...]]:
        return [(r, self.balances[r], None) for r in refs]  # move_for_receipts: balances before, no tenancy end


class Periods:
    def __init__(self, index: ReferenceIndex) -> None:
        self.index = index

    async def state(self) -> State:
        return State(1, 1, [])

    async def reference_index(self, state: State) -> ReferenceIndex:
        return self.index


class Base(Emitter):
    async def write_emitted(self) -> None:
        self.written.append(("outbox", self.emitted))
        self.emitted = []


def batches(n: int, size: int, accounts: list[str]) -> list[list[TakePayment]]:
    rnd = random.Random(12)
    validate = envelope_reader(PaymentReceived).validator.validate_json
    emitter = Emitter("payments")
    for i in range(n * size):
        pid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        channel = CHANNELS[i % len(CHANNELS)]
        ref = accounts[i % len(accounts)]
        emitter.emit_data(PaymentReceived, {
            "payment_id": pid, "provider_id": "bench", "provider_ref": f"run-{i}", "channel": channel,
            "amount_pence": 1000 + i % 9000, "currency": "GBP", "paid_at": NOW, "received_at": NOW,
            "reference": ref if channel != "direct_debit" else f"DD{ref}", "payer_name": None, "source": "push",
            "import_id": None, "lump": None, "payout_id": None, "fee_pence": None},
            identity=(pid,), key=ref, cause=Cause(uuid.UUID(int=rnd.getrandbits(128), version=4), "bench"),
            occurred_at=NOW)
    commands = []
    for row in emitter.emitted:
        env = validate(row.payload)
        commands.append(TakePayment(env.data, Cause(env.event_id, env.correlation_id)))
    return [commands[b * size:(b + 1) * size] for b in range(n)]


def ledger_uow(index: ReferenceIndex, balances: dict[str, int]) -> tuple[SqlLedgerUnitOfWork, Base, Raw]:
    raw = Raw(balances)
    base = Base("ledger", "bench")
    base.written = raw.written  # type: ignore[attr-defined]
    base.raw = raw  # type: ignore[attr-defined]
    uow = SqlLedgerUnitOfWork.__new__(SqlLedgerUnitOfWork)
    uow.base = base  # type: ignore[assignment]
    uow.emit = base.emit  # type: ignore[method-assign]
    uow.accounts, uow.postings, uow.suspense = sql.SqlAccounts(raw), sql.SqlPostings(raw), sql.SqlSuspense(raw)
    uow.periods = Periods(index)  # type: ignore[assignment]
    return uow, base, raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    accounts = [f"{70000000 + i}" for i in range(5000)]
    index = ReferenceIndex.build((a, f"DD{a}", None) for a in accounts)
    work = batches(3, args.batch, accounts)
    receipts.dt = FixedClock()  # type: ignore[assignment]
    assert UnitOfWork  # the unit of work whose emitting Base stands in for

    async def one(batch: list[TakePayment]) -> tuple[float, list[Any]]:
        uow, base, raw = ledger_uow(index, dict.fromkeys(accounts, 0))
        start = time.thread_time()
        await post_receipts(uow, batch)
        spent = time.thread_time() - start
        await base.write_emitted()
        return spent, raw.written

    async def run() -> None:
        digest = hashlib.sha1()
        for batch in work:
            for table, records in (await one(batch))[1]:
                for r in records:
                    digest.update(repr((table, tuple(r) if table == "outbox" else r)).encode())
        figures = []
        for _ in range(args.rounds):
            figures.append(min([(await one(b))[0] for b in work]) / args.batch * 1e6)
        print(f"post_receipts: {statistics.median(figures):.2f} µs per payment (best {min(figures):.2f}), "
              f"rows digest {digest.hexdigest()[:16]}")

    asyncio.run(run())


if __name__ == "__main__":
    main()
