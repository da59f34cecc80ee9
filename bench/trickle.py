"""Trickle traffic: one payment at a time after a quiet spell, push → posted.

    ./dev bench trickle [--payments 12] [--gap 4]
    ./dev bench trickle --raw [--waits 200,400,1000] [--trials 30] [--partitions 6]

Starts the stack as `rentflow up` does, loads the accounts, then pushes one payment every `--gap`
seconds and prints each one's push → posted time (the posting's broker timestamp minus the push),
their median and maximum. Every payment here is the first after a quiet spell: what the steady
run's first second and any quiet period between bursts pay. A gap over 2 s finds the ledger
fetching with its idle wait (RENTFLOW_PATH_FETCH_IDLE_WAIT_MS), one over 35 s with its quiet wait
(RENTFLOW_FETCH_IDLE_WAIT_MS; the switch comes 30-35 s into a quiet spell).

--raw measures the broker alone, the figures the fetch wait settings quote: for each fetch wait,
a consumer of a fresh topic of `--partitions` fetches with that wait, and `--trials` times one
record is produced at a random point of a held fetch; it prints the record's produce → fetched
time, mean and maximum. The embedded broker looks for records at 0, 1/2, 3/4... of a fetch's wait,
so the maximum nears half the wait."""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from e2e import PostedWatcher, payment_bodies, push
from harness import small_stack, start_run
from rentflow_common.kafka import ensure_topics


async def main(args: argparse.Namespace) -> None:
    stack, c, accs = await small_stack(args.home, local_admin=True)
    home = stack.home
    try:
        secret = (await asyncio.to_thread(c.post, "payments", "/v1/providers",
                                          json={"name": "bench", "secret": None}))["secret"]
        await asyncio.to_thread(c.wait_until_processed, 300)
        kafka = stack.infra.kafka_bootstrap_servers  # type: ignore[union-attr]
        watcher = PostedWatcher(kafka, stack.topic_prefix + "ledger.transactions.v1",
                                stack.topic_prefix + "payments.received.v1")
        await watcher.start()
        bodies = payment_bodies(args.payments, accs, uuid.uuid4().hex[:6])
        latencies = []
        for body in bodies:
            await asyncio.sleep(args.gap)
            sent = await push(c.url("payments"), "bench", secret, [body], 1, 1)
            await watcher.wait_for(set(sent), timeout=60)
            latencies += [watcher.posted[p] - t for p, t in sent.items()]
        await watcher.stop()
    finally:
        await asyncio.to_thread(stack.stop)
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print(f"trickle: {len(latencies)} payments, one every {args.gap:g} s: push → posted (ms) "
          + " ".join(f"{1000 * x:.0f}" for x in latencies))
    print(f"  median {1000 * statistics.median(latencies):.0f} ms, max {1000 * max(latencies):.0f} ms")


async def raw(args: argparse.Namespace) -> None:
    run = await start_run(args.partitions, topics=False)
    bootstrap = run.infra.kafka_bootstrap_servers
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for wait_ms in (int(w) for w in args.waits.split(",")):
            topic = f"{run.prefix}fetch-wait-{wait_ms}"
            await ensure_topics(bootstrap, args.partitions, [topic])
            consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                        fetch_max_wait_ms=wait_ms)
            await consumer.start()
            consumer.assign([TopicPartition(topic, p) for p in range(args.partitions)])
            await consumer.seek_to_end()
            await consumer.getmany(timeout_ms=2 * wait_ms)  # fetching: the trials land in held fetches
            latencies = []
            for trial in range(args.trials):
                await asyncio.sleep(random.uniform(0, wait_ms / 1000))
                sent = time.monotonic()
                await producer.send_and_wait(topic, b"x", partition=trial % args.partitions)
                while not await consumer.getmany(timeout_ms=10 * wait_ms):
                    pass
                latencies.append(time.monotonic() - sent)
            await consumer.stop()
            print(f"fetch wait {wait_ms:5d} ms, {args.partitions} partitions: produce → fetched "
                  f"mean {1000 * statistics.mean(latencies):.0f} ms, max {1000 * max(latencies):.0f} ms "
                  f"({args.trials} trials)", flush=True)
    finally:
        await producer.stop()
        await run.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=12)
    parser.add_argument("--gap", type=float, default=4.0)
    parser.add_argument("--home", default=None)
    parser.add_argument("--raw", action="store_true", help="the broker alone: produce → fetched per fetch wait")
    parser.add_argument("--waits", default="25,200,400,1000", help="--raw: fetch waits (ms), comma-separated")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--partitions", type=int, default=6)
    arguments = parser.parse_args()
    asyncio.run(raw(arguments) if arguments.raw else main(arguments))
