"""File intake: a large camt.053 statement and a large Bacs Standard 18 file through
POST /v1/imports of a running payments service; items/s and the service's peak memory.

    ./dev bench intake [--camt 500000] [--per-entry 10] [--s18 100000] [--with-ledger] [--home DIR]

Starts the embedded broker and PostgreSQL (or those of KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL) and
the payments service as its own process, as `rentflow up` does — only payments unless --with-ledger
(then the whole stack, the ledger putting every payment in suspense on the same cores). Writes the
files with rentflow_payments.samples (camt.053 entries bundle --per-entry transactions each), sends
each once, and reports the import's wall time from first byte sent to summary, and the peak RSS of
the payments process (sampled every 50 ms with psutil) against its RSS before the import.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import psutil

from rentflow_cli.stack import SERVICES, ServiceProcess, Stack
from rentflow_common.infra import free_port, start_infrastructure
from rentflow_common.kafka import ensure_topics
from rentflow_payments import samples as s


def camt_entries(n: int, per_entry: int) -> Iterator[s.Entry]:
    day = dt.date(2026, 10, 5)
    for e in range(0, n, per_entry):
        k = min(per_entry, n - e)
        yield s.Entry(f"B{e:09d}", value_date=day, sub_family="STDO" if e % 3 == 0 else "DMCT",
                      txs=[s.Tx(1000 + (e + i) % 20000, f"{10000000 + (e + i) % 5000}", f"PAYER {(e + i) % 997}",
                                f"E2E{e + i:010d}") for i in range(k)])


def write_files(folder: Path, camt: int, per_entry: int, s18: int) -> dict[str, tuple[Path, int]]:
    files = {}
    if camt:
        path = folder / "statement.xml"
        with path.open("wb") as out:
            s.write_camt053(out, camt_entries(camt, per_entry), stmt_id="BENCH")
        files["camt053"] = (path, camt)
    if s18:
        path = folder / "collections.s18"
        records = [s.S18("17", 5000 + i % 10000, f"DD{10000000 + i}") for i in range(s18)]
        path.write_bytes(s.bacs18(records, day=dt.date(2026, 10, 1)))
        files["bacs18"] = (path, s18)
    return files


class PeakRss:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.before = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def send(url: str, path: Path, token: str) -> dict:
    def chunks() -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
    r = httpx.post(f"{url}/v1/imports", params={"format": "auto", "provider": "bench"}, content=chunks(),
                   headers={"Content-Length": str(path.stat().st_size), "Authorization": f"Bearer {token}"},
                   timeout=3600)
    if r.status_code != 202:
        raise SystemExit(f"import refused: {r.status_code} {r.text[:300]}")
    return r.json()


def start(stack: Stack, with_ledger: bool, roles: str = "finance") -> str:
    """Starts what the bench needs; returns a token of these roles (by default one that may import files)."""
    if with_ledger:
        stack.start()
        return (stack.home / "admin.token").read_text().strip()
    stack.home.mkdir(parents=True, exist_ok=True)
    (stack.home / "logs").mkdir(exist_ok=True)
    stack.infra = start_infrastructure(stack.home, database=stack.database, log=stack.say)
    asyncio.run(ensure_topics(stack.infra.kafka_bootstrap_servers, stack.partitions, prefix=stack.topic_prefix))
    stack.services["payments"] = ServiceProcess("payments", free_port(), stack.home / "logs" / "payments.log")
    stack.start_service("payments")
    # payments alone has nobody to learn users from: a finance user straight into its principals
    import asyncpg

    from rentflow_common.auth import new_token, token_hash
    from rentflow_common.db import plain_url

    token = new_token()

    async def put() -> None:
        conn = await asyncpg.connect(plain_url(stack.infra.database_url))
        try:
            await conn.execute("insert into payments.principals (name, roles, token_sha256, version) values "
                               "('bench', $2, $1, 1)", token_hash(token), roles.split(","))
        finally:
            await conn.close()

    asyncio.run(put())
    return token


def main(args: argparse.Namespace) -> None:
    home = Path(args.home or tempfile.mkdtemp(prefix="rentflow-bench-intake-"))
    print(f"home {home}", file=sys.stderr)
    t = time.monotonic()
    files = write_files(home, args.camt, args.per_entry, args.s18)
    print(f"wrote {', '.join(f'{p.name} {p.stat().st_size / 1e6:.0f} MB' for p, _ in files.values())} "
          f"in {time.monotonic() - t:.0f} s", file=sys.stderr)
    stack = Stack(home, database="rentflow_bench_intake", fresh_database=True, local_admin=True,
                  say=lambda m: print(f"  {m}", file=sys.stderr))
    results = []
    try:
        token = start(stack, args.with_ledger)
        service = stack.services["payments"]
        assert service.proc is not None
        for fmt, (path, items) in files.items():
            print(f"importing {path.name} ({items:,} items)", file=sys.stderr)
            rss = PeakRss(service.proc.pid)
            t0 = time.monotonic()
            summary = send(service.url, path, token)
            elapsed = time.monotonic() - t0
            rss.stop()
            if summary["format"] != fmt or summary["accepted"] != items:
                raise SystemExit(f"unexpected summary for {path.name}: {summary}")
            results.append((fmt, items, path.stat().st_size, elapsed, rss.before, rss.peak))
    finally:
        stack.stop()
    print(f"{'format':10} {'items':>9} {'MB':>6} {'seconds':>8} {'items/s':>9} {'RSS before':>11} {'RSS peak':>9}")
    for fmt, items, size, elapsed, before, peak in results:
        print(f"{fmt:10} {items:>9,} {size / 1e6:>6.0f} {elapsed:>8.1f} {items / elapsed:>9,.0f} "
              f"{before / 2**20:>9.0f}MB {peak / 2**20:>7.0f}MB")
    print("services running: " + (", ".join(SERVICES) if args.with_ledger else "payments only"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camt", type=int, default=500_000, help="camt.053 transactions (0: none)")
    parser.add_argument("--per-entry", type=int, default=10, help="transactions bundled in one camt.053 entry")
    parser.add_argument("--s18", type=int, default=100_000, help="Standard 18 collection records (0: none)")
    parser.add_argument("--with-ledger", action="store_true", help="run the whole stack, not only payments")
    parser.add_argument("--home", default=None)
    main(parser.parse_args())
