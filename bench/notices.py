"""A year-end rent review: N RentChanged events through the notifications service to N PDF notices
and one merged print file.

    ./dev bench notices [--notices 5000] [--partitions 6] [--workers 1] [--chunk 200]

Starts the broker and database (environment first, else the embedded default) in a temporary
home, runs the notifications service in this process (consumer, renderer with its worker
process), produces N RentChanged (effective Monday 5 April 2027, "today" 4 March 2027), and
prints: time until every notice is produced, notices/s, the merge into one print file, and the
event loop's longest stall while rendering (a 10 ms ticker; what the consumer and HTTP would wait)."""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import time

import asyncpg
from aiokafka import AIOKafkaProducer

from harness import start_run
from rentflow_common.db import plain_url
from rentflow_common.logging import configure_logging
from rentflow_notifications.bootstrap import build_app
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.service_layer.notices import print_run
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.rents import RentChanged

UTC = dt.timezone.utc
TOPIC = "ledger.rent-changes.v1"
EFFECTIVE = dt.date(2027, 4, 5)


def say(msg: str) -> None:
    print(msg, flush=True)


def changes(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        ref = f"{10000000 + i}"
        old = 11000 + (i * 37) % 3000
        data = RentChanged(change_id=derive_event_id("rent-change", ref, EFFECTIVE), account_ref=ref,
                           tenant_name=f"Tenant {i}", property=f"{i % 300 + 1} Example Road, Anytown",
                           patch=f"P{i % 6}", old_weekly_rent_pence=old, new_weekly_rent_pence=old * 1048 // 1000,
                           old_weekly_charges_pence=(i % 4) * 250, new_weekly_charges_pence=(i % 4) * 250,
                           effective_date=EFFECTIVE, payment_method="dd" if i % 3 else "so",
                           reason="annual uprating 4.8% from 2027-04-05 (rent year 2027/28)",
                           occurred_at=dt.datetime(2027, 3, 4, 9, tzinfo=UTC))
        env = new_envelope(data, event_type="ledger.rent_changed", event_id=derive_event_id("bench", ref),
                           producer="bench", correlation_id="bench-uprate")
        out.append((ref, env.model_dump_json().encode()))
    return out


async def ticker(stalls: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(0.01)
        stalls.append(loop.time() - t - 0.01)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notices", type=int, default=5000)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--workers", type=int, default=1, help="render worker processes (0: a thread)")
    ap.add_argument("--chunk", type=int, default=200, help="notices per rendering transaction")
    ap.add_argument("--timeout", type=float, default=1200)
    args = ap.parse_args()
    configure_logging("bench", "console", level=logging.WARNING)
    run = await start_run(args.partitions, say)
    home, infra, db_url, prefix, settings = run.home, run.infra, run.db_url, run.prefix, run.settings
    runtime = None
    try:
        config = NotificationsConfig(letters_dir=home / "letters", render_workers=args.workers,
                                     render_chunk=args.chunk, idle_poll_seconds=0.2,
                                     clock=lambda: dt.datetime(2027, 3, 4, 9, tzinfo=UTC))
        app = build_app(settings, config)
        runtime = app.state.runtime
        await runtime.start()

        messages = changes(args.notices)
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, acks="all", linger_ms=20)
        await producer.start()
        try:
            t0 = time.perf_counter()
            await asyncio.gather(*[await producer.send(prefix + TOPIC, v, key=k.encode()) for k, v in messages])
        finally:
            await producer.stop()
        say(f"produced {len(messages)} RentChanged in {time.perf_counter() - t0:.1f}s")

        stalls: list[float] = []
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stalls, stop))
        conn = await asyncpg.connect(plain_url(db_url))
        try:
            t_start = time.perf_counter()
            taken = produced = 0
            t_taken = None
            while produced < args.notices:
                if time.perf_counter() - t_start > args.timeout:
                    raise SystemExit(f"timed out: {taken} taken in, {produced} produced")
                await asyncio.sleep(0.2)
                row = await conn.fetchrow("select count(*) as taken, count(*) filter (where status = 'produced') "
                                          "as produced from notifications.notices")
                taken, produced = row["taken"], row["produced"]
                if t_taken is None and taken >= args.notices:
                    t_taken = time.perf_counter()
            t_done = time.perf_counter()
        finally:
            await conn.close()
        stop.set()
        await tick
        t_print = time.perf_counter()
        printed = await print_run(runtime.uow, config, "rent_review", f"rent_review:{EFFECTIVE}",
                                  runtime.workers.run_cpu)
        t_printed = time.perf_counter()
        size = os.path.getsize(printed["path"])
        stalls.sort()
        render = t_done - t_start
        say(f"notices: {args.notices:,} rent review notices, {args.partitions} partitions, "
            f"{args.workers} render worker process(es), chunks of {args.chunk}")
        say(f"  taken in by the consumer:      {(t_taken or t_done) - t_start:.1f}s")
        say(f"  all produced (PDF + HTML):     {render:.1f}s  ({args.notices / render:,.0f} notices/s)")
        say(f"  merged print file:             {t_printed - t_print:.1f}s, {printed['pages']:,} pages, "
            f"{size / 1e6:.1f} MB")
        say(f"  event loop stall while rendering: p50 {1000 * stalls[len(stalls) // 2]:.1f} ms, "
            f"p99 {1000 * stalls[int(len(stalls) * 0.99)]:.1f} ms, max {1000 * stalls[-1]:.1f} ms")
    finally:
        if runtime is not None:
            await runtime.stop()
        await run.close()


if __name__ == "__main__":
    asyncio.run(main())
