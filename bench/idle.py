"""CPU of an idle stack: each service's share of one core while nothing happens.

    ./dev bench idle [--seconds 30] [--settle 40]

Starts the stack as `rentflow up` does (embedded broker and database unless the environment names
real ones), loads a few accounts so every consumer has joined its group and every topic exists,
waits `--settle` seconds, then measures each process's CPU over `--seconds`. The target is under
1% of a core per service. The default settle is past the ledger's step to its quiet fetch wait
(30-35 s after its last message; service.QUIET_AFTER_S): a shorter one measures the ledger partly
in its first idle seconds, when it fetches five times a second. PostgreSQL and the broker are printed too: a service that polls them
makes them busy. For comparison, the same window's CPU of this (sleeping) bench process."""
from __future__ import annotations

import argparse
import asyncio
import shutil
import time

from cpu import CpuMeter, infra_processes
from harness import small_stack


async def main(args: argparse.Namespace) -> None:
    stack, c, _accounts = await small_stack(args.home)
    home = stack.home
    try:
        await asyncio.to_thread(c.wait_until_processed, 120)
        await asyncio.sleep(args.settle)
        kafka = stack.infra.kafka_bootstrap_servers  # type: ignore[union-attr]
        meter = CpuMeter.of_pids({name: s.proc.pid for name, s in stack.services.items() if s.proc},
                                 infra_processes(home, kafka))
        t0 = time.monotonic()
        await asyncio.sleep(args.seconds)
        wall = time.monotonic() - t0
        used = meter.since_start()
        print(f"idle for {wall:.0f}s after {args.settle:.0f}s to settle: % of one core")
        for name, seconds in sorted(used.items()):
            services = name in stack.services
            flag = "" if not services else ("  ok (< 1%)" if seconds / wall < 0.01 else "  over the 1% target")
            print(f"  {name:14s} {100 * seconds / wall:5.2f}%{flag}")
    finally:
        await asyncio.to_thread(stack.stop)
        if not args.home:  # the temporary home holds the run's database and logs
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--settle", type=float, default=40)
    ap.add_argument("--home", default=None)
    asyncio.run(main(ap.parse_args()))
