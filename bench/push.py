"""The push path alone: CPU per payment of the payments service and of the PostgreSQL backends serving
it, from POST /v1/payments/batch to payments.received.v1 published by its relay.

    ./dev bench push [--payments 100000] [--batch 500] [--concurrency 4] [--rounds 1] [--pg-stats]

Starts the embedded broker and PostgreSQL and the payments service alone (no consumer reads what it
publishes), registers a provider, pushes a warm-up, then pushes N payments in signed batches as
e2e does and waits until the outbox is published. Smaller than e2e for a change of intake (the other
services' CPU is not on the machine), but on a shared machine still a few µs apart from round to
round: compare several rounds. To compare two trees in one sitting, run the same file with the
other tree's interpreter (its packages are what it imports):
`flock /tmp/rentflow-bench.lock sh -c '/work/wt-base/.venv/bin/python bench/push.py; .venv/bin/python bench/push.py'`.
--pg-stats prints each round's statements per payment (pg_stat_statements, as `bench e2e --pg-stats`:
wall time, which for a COPY includes waiting on the service; WAL bytes): a diagnostic run, its CPU
figures are not comparable with a plain run's.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson
import psutil

from cpu import backend_cpu, infra_processes, postgres_by_client
from e2e import CHANNELS, enable_pg_stats, pg_stats, print_pg_stats
from intake import start
from rentflow_cli.client import signed_headers
from rentflow_cli.stack import Stack


def bodies(n: int, run: str) -> list[bytes]:
    return [orjson.dumps({"provider_ref": f"{run}-{i}", "channel": CHANNELS[i % len(CHANNELS)],
                          "amount_pence": 1000 + i % 9000, "currency": "GBP", "paid_at": "2026-10-07T10:00:00+00:00",
                          "reference": f"{10000000 + i % 5000}"}) for i in range(n)]


async def push(http: httpx.AsyncClient, secret: str, items: list[bytes], batch: int, concurrency: int) -> None:
    chunks = [b"[" + b",".join(items[i:i + batch]) + b"]" for i in range(0, len(items), batch)]
    queue = list(reversed(chunks))

    async def worker() -> None:
        while queue:
            body = queue.pop()
            r = await http.post("/v1/payments/batch", content=body, headers=signed_headers("bench", secret, body))
            if r.status_code != 202:
                raise SystemExit(f"push refused: {r.status_code} {r.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def published(http: httpx.AsyncClient, token: str, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = await http.get("/v1/ops/status", headers={"Authorization": f"Bearer {token}"})
        if r.status_code == 200 and int(r.json().get("outbox_backlog", 1)) == 0:
            return
        await asyncio.sleep(0.05)
    raise SystemExit("the outbox was not published in time")


async def run(stack: Stack, token: str, args: argparse.Namespace) -> list[dict[str, float]]:
    service = stack.services["payments"]
    assert service.proc is not None and stack.infra is not None
    infra = infra_processes(stack.home, stack.infra.kafka_bootstrap_servers)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=service.url, timeout=120) as http:
        r = await http.post("/v1/providers", json={"name": "bench"}, headers=auth)
        r.raise_for_status()
        secret = r.json()["secret"]
        await push(http, secret, bodies(5000, "warm"), args.batch, args.concurrency)
        await published(http, token)
        out = []
        for k in range(args.rounds):
            items = bodies(args.payments, f"{uuid.uuid4().hex[:6]}-{k}")
            await asyncio.sleep(1.0)
            own = backend_cpu([psutil.Process(service.proc.pid)], children=False)
            pg_base = backend_cpu(infra["postgres"])
            broker = backend_cpu(infra["broker"])
            if args.pg_stats:
                await pg_stats(stack.infra.database_url, "select pg_stat_statements_reset()", "select pg_stat_reset()")
            t0 = time.monotonic()
            await push(http, secret, items, args.batch, args.concurrency)
            await published(http, token)
            elapsed = time.monotonic() - t0
            pg = await postgres_by_client(stack.infra.database_url, infra["postgres"], pg_base)
            n = len(items)
            if args.pg_stats:
                await print_pg_stats(stack.infra.database_url, n, args.pg_stats_top)
            out.append({
                "payments": 1e6 * (sum(backend_cpu([psutil.Process(service.proc.pid)], children=False).values())
                                   - sum(own.values())) / n,
                "postgres for payments": 1e6 * pg.get("payments", 0.0) / n,
                "postgres other": 1e6 * sum(v for k2, v in pg.items() if k2 != "payments") / n,
                "broker": 1e6 * (sum(backend_cpu(infra["broker"]).values()) - sum(broker.values())) / n,
                "payments/s": n / elapsed})
    return out


def main(args: argparse.Namespace) -> None:
    home = Path(tempfile.mkdtemp(prefix="rentflow-bench-push-"))
    stack = Stack(home, database="rentflow_bench_push", fresh_database=True, local_admin=True,
                  say=lambda m: print(f"  {m}", file=sys.stderr))
    try:
        token = start(stack, with_ledger=False, roles="admin,ops")
        if args.pg_stats:
            asyncio.run(enable_pg_stats(stack))
        rounds = asyncio.run(run(stack, token, args))
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    import rentflow_payments

    print(f"tree {Path(rentflow_payments.__file__).parents[3]}: {args.payments:,} payments a round, "
          f"batches of {args.batch}, {args.concurrency} at once")
    for k, r in enumerate(rounds):
        print(f"  round {k + 1}: " + ", ".join(f"{name} {value:,.1f}" for name, value in r.items())
              + " (µs per payment; payments/s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pg-stats", action="store_true", help="print each round's statements per payment")
    parser.add_argument("--pg-stats-top", type=int, default=20)
    main(parser.parse_args())
