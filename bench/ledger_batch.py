"""The ledger consumer's write side alone on a scratch embedded database: a payments batch decoded,
its progress locked and saved, the handler run and the unit of work committed, as the consumer
does (BatchConsumer._process_batch), on payments shaped like `bench ledger`'s. Prints CPU per payment
of this process and of its PostgreSQL backend, the wall time a batch holds its accounts locked (from
the receipts' balance update to the end of the commit) and a batch's whole, then (--by-statement)
the backend's CPU per statement, and the rows and index entries each table took per payment.

    ./dev bench ledger_batch [--batches 10] [--size 3000] [--accounts 5000] [--rounds 3] [--by-statement]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).parent))
from harness import on_scratch_database  # noqa: E402
from ledger import Sequencer, accounts, envelopes  # noqa: E402  (bench ledger's data)

from faststream.kafka import KafkaBroker  # noqa: E402

from rentflow_common.consumer import BatchConsumer  # noqa: E402
from rentflow_common.db import UnitOfWork, make_engine  # noqa: E402
from rentflow_common.migrations import upgrade_async  # noqa: E402
from rentflow_common.service import tune_garbage_collector  # noqa: E402
from rentflow_ledger.adapters.sql import SqlAccounts  # noqa: E402
from rentflow_ledger.bootstrap import MIGRATIONS  # noqa: E402
from rentflow_ledger.entrypoints import consumers  # noqa: E402
from rentflow_ledger.service_layer.accounts import upsert_accounts  # noqa: E402

TOPIC = "payments.received.v1"


class Record(NamedTuple):  # what aiokafka hands the consumer, as far as decode reads it
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def records(n: int, n_accounts: int, partitions: int) -> list[Record]:
    sequencer = Sequencer(partitions)
    offsets = [0] * partitions
    out = []
    for key, value in envelopes(n, n_accounts, "b"):
        p, headers = sequencer.place(key)
        out.append(Record(TOPIC, p, offsets[p], key, value, headers))
        offsets[p] += 1
    return out


def fetches(all_records: list[Record], size: int) -> list[list[Record]]:
    """Batches as a fetch hands them: runs of one partition each."""
    out = []
    for b in range(0, len(all_records), size):
        chunk = all_records[b:b + size]
        out.append(sorted(chunk, key=lambda r: (r.partition, r.offset)))
    return out


def statement_name(query: str) -> str:
    q = re.sub(r"\s+", " ", query).strip()
    return q[:110]


class Backend:
    """A PostgreSQL backend's CPU time in seconds, to the nanosecond (/proc/PID/schedstat)."""

    def __init__(self, pid: int) -> None:
        self.path = f"/proc/{pid}/schedstat"

    def cpu(self) -> float:
        with open(self.path) as f:
            return int(f.read().split()[0]) / 1e9


class Timed:
    """The asyncpg connection, its statements timed by the backend's CPU (a proxy in the unit of work)."""

    def __init__(self, raw: Any, backend: Backend, spent: dict[str, list[float]]) -> None:
        self._raw, self._backend, self._spent = raw, backend, spent

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._raw, name)
        if name not in ("fetch", "fetchval", "fetchrow", "execute", "copy_records_to_table", "executemany"):
            return fn

        async def timed(*a: Any, **k: Any) -> Any:
            what = f"COPY {a[0]}" if name == "copy_records_to_table" else statement_name(a[0])
            b = self._backend.cpu()
            try:
                return await fn(*a, **k)
            finally:
                s = self._spent.setdefault(what, [0.0, 0])
                s[0] += self._backend.cpu() - b
                s[1] += 1
        return timed

    def transaction(self, *a: Any, **k: Any) -> Any:
        return self._raw.transaction(*a, **k)


async def run(args: argparse.Namespace, url: str) -> None:
    await upgrade_async(MIGRATIONS, url, "ledger")
    engine = make_engine(url, "ledger", pool_size=1)
    async with UnitOfWork(engine) as uow:
        await upsert_accounts(uow, accounts(args.accounts), "bench")
        await uow.commit()
    async with engine.connect() as c:
        raw = (await c.get_raw_connection()).driver_connection
        backend = Backend(await raw.fetchval("select pg_backend_pid()"))
    spent: dict[str, list[float]] = {}

    locked_at: list[float] = []  # when the batch's accounts were locked (the receipts' balance update began)
    move = SqlAccounts.move_for_receipts

    async def timed_move(self: SqlAccounts, *a: Any, **k: Any) -> Any:
        locked_at.append(time.perf_counter())
        return await move(self, *a, **k)
    SqlAccounts.move_for_receipts = timed_move  # type: ignore[method-assign]

    class Uow(UnitOfWork):
        async def __aenter__(self) -> "Uow":
            await super().__aenter__()
            if args.by_statement:
                self.raw = Timed(self.raw, backend, spent)
            return self

    consumer = BatchConsumer(KafkaBroker("localhost:1"), engine, group_id="ledger",
                             handlers=consumers.handlers(None), uow=lambda **kw: Uow(engine, **kw),
                             fast=consumers.FAST)
    total = (args.warmup + args.rounds * args.batches) * args.size
    work = fetches(records(total, args.accounts, args.partitions), args.size)
    tune_garbage_collector()  # as a service does
    n = 0

    async def one() -> tuple[float, float, float, float]:
        nonlocal n
        fetch = work[n]
        n += 1
        b0 = backend.cpu()
        c0 = time.process_time()
        w0 = time.perf_counter()
        locked_at.clear()
        decoded = consumer.decode(fetch)
        await consumer._process_batch(decoded.good)
        w1 = time.perf_counter()
        # the accounts stay locked from the update to the commit (_process_batch returns just after it)
        return time.process_time() - c0, backend.cpu() - b0, w1 - w0, w1 - locked_at[0] if locked_at else 0.0

    for _ in range(args.warmup):
        await one()
    async with engine.connect() as c:
        entries0 = await index_entries((await c.get_raw_connection()).driver_connection)
    spent.clear()
    for r in range(args.rounds):
        client = server = wall = locked = 0.0
        for _ in range(args.batches):
            c, s, w, k = await one()
            client, server, wall, locked = client + c, server + s, wall + w, locked + k
        per = 1e6 / (args.batches * args.size)
        print(f"round {r}: client {client * per:.2f} µs/payment, server {server * per:.2f} µs/payment, "
              f"wall {wall * per:.2f} µs/payment; accounts locked {1e3 * locked / args.batches:.1f} of "
              f"{1e3 * wall / args.batches:.1f} ms a batch", flush=True)
    payments = args.rounds * args.batches * args.size
    if args.by_statement:
        print("backend CPU by statement (µs per payment, calls):")
        for what, (s, calls) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
            print(f"  {1e6 * s / payments:6.2f} {calls:5}  {what}")
    async with engine.connect() as c:
        entries1 = await index_entries((await c.get_raw_connection()).driver_connection)
    print("rows and index entries added per payment:")
    for (table, index), count in entries1.items():
        if count != entries0.get((table, index), 0):
            print(f"  {(count - entries0.get((table, index), 0)) / payments:6.3f}  {table:<16} {index}")
    await engine.dispose()


async def index_entries(raw: Any) -> dict[tuple[str, str], int]:
    """(table, "rows" or an index's definition) → rows of the ledger's tables, and entries of each index
    (a partial index's: the rows its predicate takes)."""
    out: dict[tuple[str, str], int] = {}
    for t in await raw.fetch("select c.oid, c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                             "where n.nspname = 'ledger' and c.relkind = 'r' order by c.relname"):
        out[(t[1], "rows")] = await raw.fetchval(f"select count(*) from ledger.{t[1]}")
        for i in await raw.fetch("select pg_get_indexdef(indexrelid) as def, pg_get_expr(indpred, indrelid) as pred "
                                 "from pg_index where indrelid = $1 order by indexrelid", t[0]):
            name = re.sub(r" ON \S+ USING btree", "", re.sub(r"^CREATE (UNIQUE )?INDEX ", "", i["def"]))
            out[(t[1], name)] = (await raw.fetchval(f"select count(*) from ledger.{t[1]} where {i['pred']}")
                                 if i["pred"] else out[(t[1], "rows")])
    return out


def main(args: argparse.Namespace) -> None:
    on_scratch_database("rentflow-ledgerbatch-", lambda url: run(args, url))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--size", type=int, default=3000)
    p.add_argument("--accounts", type=int, default=5000)
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--by-statement", action="store_true", help="the backend's CPU per statement (adds client CPU)")
    main(p.parse_args())
