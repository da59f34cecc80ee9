"""What the in-process benches share: a temporary home, the embedded broker and PostgreSQL (or
the environment's), a fresh database, a topic prefix of their own, and cleaning up after."""
from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rentflow_common.infra import Infrastructure, start_infrastructure
from rentflow_common.kafka import ensure_topics
from rentflow_common.settings import Settings
from rentflow_common.testing import fresh_database_async


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Run:
    home: Path
    infra: Infrastructure
    db_url: str
    prefix: str
    settings: Settings

    async def close(self) -> None:
        self.infra.stop()
        for _ in range(10):  # the embedded server may still be writing as it exits
            shutil.rmtree(self.home, ignore_errors=True)
            if not self.home.exists():
                return
            await asyncio.sleep(0.5)


async def start_run(partitions: int = 6, log: Callable[[str], Any] = say, topics: bool = True,
                    home_prefix: str = "rentflow-bench-") -> Run:
    home = Path(tempfile.mkdtemp(prefix=home_prefix))
    log(f"starting infrastructure in {home} ...")
    infra = await asyncio.to_thread(start_infrastructure, home, "rentflow_bench", log)
    run = Run(home, infra, "", f"bench{uuid.uuid4().hex[:6]}.", None)  # type: ignore[arg-type]
    try:
        run.db_url = await fresh_database_async(infra, "bench")
        run.settings = Settings(kafka_bootstrap_servers=infra.kafka_bootstrap_servers, database_url=run.db_url,
                                home=home, partitions=partitions, log_format="console", topic_prefix=run.prefix)
        if topics:
            await ensure_topics(infra.kafka_bootstrap_servers, partitions, prefix=run.prefix)
    except BaseException:
        await run.close()
        raise
    return run


async def small_stack(home: str | None, *, local_admin: bool | None = None) -> tuple[Any, Any, list[Any]]:
    """The four services started as `rentflow up` starts them (`local_admin` as Stack takes it: None is
    `up`'s default), on `home` (else a new temporary one),
    with 50 sample accounts imported: (stack, client, accounts). The caller stops the stack."""
    from rentflow_cli import sample
    from rentflow_cli.client import Client
    from rentflow_cli.stack import Stack

    path = Path(home or tempfile.mkdtemp(prefix="rentflow-bench-"))
    stack = Stack(path, database="rentflow_bench", fresh_database=True, local_admin=local_admin,
                  say=lambda m: print(f"  {m}", file=sys.stderr))
    await asyncio.to_thread(stack.start)
    client = Client(path)
    accounts = sample.accounts(50, seed=11)
    try:
        await asyncio.to_thread(client.post, "ledger", "/v1/accounts/import",
                                content=sample.accounts_csv(accounts).encode(), headers={"Content-Type": "text/csv"})
    except BaseException:
        await asyncio.to_thread(stack.stop)
        raise
    return stack, client, accounts


def on_scratch_database(prefix: str, run: Callable[[str], Any]) -> None:
    """`run(url)` (a coroutine function) against an embedded PostgreSQL of its own, in a temporary
    folder removed afterwards."""
    from contextlib import ExitStack

    from rentflow_common.infra import _database

    home = Path(tempfile.mkdtemp(prefix=prefix))
    stack = ExitStack()
    try:
        url, _ = _database(home, "bench", stack, lambda m: print(m, file=sys.stderr))
        asyncio.run(run(url))
    finally:
        stack.close()
        shutil.rmtree(home, ignore_errors=True)
