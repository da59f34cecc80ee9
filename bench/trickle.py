"""Trickle traffic: one payment at a time after a quiet spell, push → posted.

    ./dev bench trickle [--payments 12] [--gap 4]

Starts the stack as `rentflow up` does, loads the accounts, then pushes one payment every `--gap`
seconds (longer than the 2 s after which an idle consumer fetches with its idle wait) and prints
each one's push → posted time (the posting's broker timestamp minus the push), their median and
maximum. Every payment here is the first after a quiet spell: what the steady run's first second
and any quiet period between bursts pay."""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import uuid

from e2e import PostedWatcher, payment_bodies, push
from harness import small_stack


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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=12)
    parser.add_argument("--gap", type=float, default=4.0)
    parser.add_argument("--home", default=None)
    asyncio.run(main(parser.parse_args()))
