"""Reporting's batch handler alone on a scratch embedded database: CPU per posting of this process and
of its PostgreSQL backend, by repository call, on batches shaped like the e2e bench's (one receipt
posting per payment, 5,000 accounts, one business date).

    ./dev bench reporting_batch [--batches 20] [--size 3000] [--accounts 5000] [--rounds 3] [--pydantic]

The postings reach the handler as the reporting consumer hands them on: decoded from their JSON by the
msgspec fast path (Structs, rentflow_common.fastdecode); --pydantic gives it pydantic models instead.
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid

import psutil
from pydantic import AwareDatetime, TypeAdapter

from harness import on_scratch_database
from rentflow_common.consumer import envelope_model
from rentflow_common.db import UnitOfWork, make_engine
from rentflow_common.fastdecode import fast_decoder
from rentflow_common.migrations import upgrade_async
from rentflow_common.service import tune_garbage_collector
from rentflow_common.testing import Incoming
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import TransactionPosted

from rentflow_reporting.adapters import repository as repo
from rentflow_reporting.bootstrap import MIGRATIONS
from rentflow_reporting.service_layer import handlers

# as pydantic parses it from JSON, its tzinfo pydantic's TzInfo (which asyncpg encodes slower than
# datetime.timezone.utc, what the Structs carry)
POSTED_AT = TypeAdapter(AwareDatetime).validate_json(b'"2026-10-07T10:00:00Z"')
CODES = [("RCP", "card"), ("RBP", "bank_transfer"), ("RSO", "standing_order"), ("RPY", "cash"),
         ("RDD", "direct_debit")]


FAST = fast_decoder(envelope_model(TransactionPosted))


def batch(start: int, size: int, accounts: int, as_structs: bool = True) -> list[Incoming]:
    day = dt.date(2026, 10, 7)
    at = POSTED_AT
    out = []
    for i in range(start, start + size):
        code, channel = CODES[i % len(CODES)]
        account = f"ACC{i % accounts:06d}"
        data = TransactionPosted(transaction_id=uuid.uuid4(), account_ref=account, type_code=code,
                                 amount_pence=-(1000 + i % 9000), balance_after_pence=0, posted_at=at,
                                 business_date=day, period="2026-10", source_ref=f"p-{i}", channel=channel,
                                 allocation_rule="exact")
        envelope = new_envelope(data, event_type="ledger.transaction_posted", event_id=uuid.uuid4(),
                                producer="ledger", correlation_id="c")
        if as_structs:
            envelope = FAST(envelope.model_dump_json().encode())
        out.append(Incoming("ledger.transactions.v1", 0, i, account, envelope))
    return out


class Timed:
    """Wraps the repository's writes: client CPU and wall time per call, by name."""

    def __init__(self, names: list[str]) -> None:
        self.cpu: dict[str, float] = {n: 0.0 for n in names}
        self.server: dict[str, float] = {n: 0.0 for n in names}
        self.backend: psutil.Process | None = None  # with it, the backend's CPU per call too
        for name in names:
            setattr(repo, name, self._wrap(name, getattr(repo, name)))

    def _wrap(self, name, fn):
        async def timed(*a, **k):
            b = sum(self.backend.cpu_times()[:2]) if self.backend else 0.0
            t = time.process_time()
            try:
                return await fn(*a, **k)
            finally:
                self.cpu[name] += time.process_time() - t
                if self.backend:
                    self.server[name] += sum(self.backend.cpu_times()[:2]) - b
        return timed


async def run(args: argparse.Namespace, url: str) -> None:
    await upgrade_async(MIGRATIONS, url, "reporting")
    engine = make_engine(url, schema="reporting", pool_size=1)
    timed = Timed(["claim_postings", "add_accounts", "add_balance_movements", "add_daily_totals"])
    async with engine.connect() as c:
        raw = (await c.get_raw_connection()).driver_connection
        backend = psutil.Process(await raw.fetchval("select pg_backend_pid()"))
    tune_garbage_collector()  # as a service does
    if args.by_statement:
        timed.backend = backend
    n = 0
    for _ in range(args.warmup):
        msgs = batch(n, args.size, args.accounts, not args.pydantic)
        n += args.size
        async with UnitOfWork(engine) as uow:
            await handlers.apply_ledger_events(uow, msgs)
            await uow.commit()
    for r in range(args.rounds):
        for k in timed.cpu:
            timed.cpu[k] = timed.server[k] = 0.0
        client = server = 0.0
        for _ in range(args.batches):
            msgs = batch(n, args.size, args.accounts, not args.pydantic)
            n += args.size
            b0 = sum(backend.cpu_times()[:2])
            c0 = time.process_time()
            async with UnitOfWork(engine) as uow:
                await handlers.apply_ledger_events(uow, msgs)
                await uow.commit()
            client += time.process_time() - c0
            server += sum(backend.cpu_times()[:2]) - b0
        per = 1e6 / (args.batches * args.size)
        calls = ", ".join(f"{k} {v * per:.2f}" for k, v in timed.cpu.items())
        line = f"round {r}: client {client * per:.2f} µs/posting ({calls}); server {server * per:.2f} µs/posting"
        if timed.backend:
            line += " (" + ", ".join(f"{k} {v * per:.2f}" for k, v in timed.server.items()) + ")"
        print(line, flush=True)
    await engine.dispose()


def main(args: argparse.Namespace) -> None:
    if args.copy_from is not None:
        repo.COPY_POSTINGS = args.copy_from
    on_scratch_database("rentflow-repbench-", lambda url: run(args, url))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--size", type=int, default=3000)
    p.add_argument("--accounts", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--by-statement", action="store_true", help="the backend's CPU per call too (adds client CPU)")
    p.add_argument("--pydantic", action="store_true", help="postings as pydantic models, not the consumer's Structs")
    p.add_argument("--copy-from", type=int, help="repo.COPY_POSTINGS for this run")
    main(p.parse_args())
