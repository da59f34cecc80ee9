"""A service's outbox relay in a process of its own (the ledger's by default:
RENTFLOW_LEDGER_RELAY_PROCESS).

In the service's process the relay (claiming, numbering, building and compressing record batches,
publishing them) shares one core's worth of Python with the consumers: the ledger, on every
payment's path, spent ~14% of its time relaying, and a backlog drained no faster than that one
thread. Apart, the relay runs on the other core.

The child runs the same OutboxRelay (one leads per service: its advisory lock). Commits in the
service reach it by the outbox's NOTIFY, not by the hand-over at commit, so it reads back the
events it claims (~1.5 µs of PostgreSQL an event). `RelayProcess` stands in the service for the
relay: it mirrors the child's figures (for /health, /v1/ops/status and /metrics), starts the
child again when it dies (0.5 s doubling to 30 s) and stops it on its own stop. A service killed
outright closes the pipe: the child stops at once (its lock goes with its connection)."""
from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from rentflow_common.logging import configure_logging, get_logger
from rentflow_common.settings import Settings

log = get_logger(__name__)

STATE_EVERY_S = 0.25  # how often the child looks at its figures (and sends them if they changed)
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0  # up this long, a death starts the backoff afresh
STOP_WAIT_S = 10.0
MIRRORED = ("leader", "last_error", "topics_lost", "published", "republished", "duplicates_dropped", "read_back",
            "counted", "pruned", "last_published_at")


class _PerSecond:
    """The child's Rate, as its last figure."""

    def __init__(self) -> None:
        self.value = 0.0

    def per_second(self) -> float:
        return self.value


class RelayProcess:
    """The service's side of a relay running in a child process: the attributes OutboxRelay's readers
    use, `run()` (keeps a child running until `stop()`) and `wake()` (nothing to do: NOTIFY wakes it)."""

    def __init__(self, settings: Settings, schema: str) -> None:
        self._settings = settings
        self._schema = schema
        self.leader = False
        self.last_error: str | None = None
        self.topics_lost: dict[str, int] = {}
        self.published = self.republished = self.duplicates_dropped = self.read_back = self.counted = 0
        self.pruned = 0
        self.last_published_at: float | None = None  # monotonic: one clock for every process of the machine
        self.rate = _PerSecond()
        self.pid: int | None = None
        self.alive = False
        self.restarts = 0
        self._stopping = asyncio.Event()
        self._conn: Connection | None = None
        self._base = dict.fromkeys(("published", "republished", "duplicates_dropped", "read_back", "counted",
                                    "pruned"), 0)  # what the children before this one counted

    def wake(self) -> None:
        """A commit in the service's process: the child hears of it by NOTIFY."""

    def stop(self) -> None:
        self._stopping.set()
        self._send_stop()

    def _send_stop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(("stop",))
            except (OSError, ValueError):  # the child is gone, or the pipe closed
                pass

    async def run(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with a running event loop and threads
        backoff = FIRST_BACKOFF_S
        while not self._stopping.is_set():
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=run_child, args=(self._settings, self._schema, theirs),
                               name=f"rentflow-{self._schema}-relay", daemon=True)
            proc.start()
            theirs.close()
            started = time.monotonic()
            self._conn, self.pid, self.alive = ours, proc.pid, True
            log.info("outbox.relay_process_started", pid=proc.pid)
            if self._stopping.is_set():
                self._send_stop()
            try:
                await self._follow(ours)
                await _join(proc, STOP_WAIT_S)
            finally:
                if proc.is_alive():  # cancelled, or it did not stop in time
                    proc.kill()
                    await _join(proc, 5.0)
                ours.close()
                self._conn, self.alive, self.leader = None, False, False
                self._keep_counts()
            if self._stopping.is_set():
                break
            if time.monotonic() - started > STABLE_AFTER_S:
                backoff = FIRST_BACKOFF_S
            self.restarts += 1
            self.last_error = f"relay process {proc.pid} exited with code {proc.exitcode}"
            log.warning("outbox.relay_process_died", pid=proc.pid, code=proc.exitcode, restart_in_s=backoff)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=backoff)
            except asyncio.TimeoutError:
                pass
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _follow(self, conn: Connection) -> None:
        """Takes the child's figures until its end of the pipe closes."""
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(conn.fileno(), readable.set)
        try:
            while True:
                await readable.wait()
                readable.clear()
                try:
                    while conn.poll():
                        self._take(conn.recv())
                except (EOFError, OSError):
                    return
        finally:
            loop.remove_reader(conn.fileno())

    def _take(self, state: dict[str, Any]) -> None:
        for name in MIRRORED:
            value = state[name]
            setattr(self, name, value + self._base[name] if name in self._base else value)
        self.rate.value = state["rate"]

    def _keep_counts(self) -> None:
        for name in self._base:
            self._base[name] = getattr(self, name)


async def _join(proc: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while proc.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if not proc.is_alive():
        proc.join()


def run_child(settings: Settings, schema: str, conn: Connection) -> None:
    """The child: the service's relay until the service says stop or is gone."""
    configure_logging(schema, settings.log_format)
    asyncio.run(_relay(settings, schema, conn))


async def _relay(settings: Settings, schema: str, conn: Connection) -> None:
    from rentflow_common.db import make_engine
    from rentflow_common.service import make_relay

    engine = make_engine(settings.database_url, schema=schema, pool_size=3,
                         application_name=f"rentflow-{schema}-relay")
    producer, relay = make_relay(settings, engine, schema)
    loop = asyncio.get_running_loop()

    def heard() -> None:
        try:
            while conn.poll():
                if conn.recv()[0] == "stop":
                    relay.stop()
        except (EOFError, OSError):  # the service is gone
            loop.remove_reader(conn.fileno())
            relay.stop()

    sent: dict[str, Any] = {}

    def report() -> None:
        nonlocal sent
        state = {**{name: getattr(relay, name) for name in MIRRORED}, "rate": relay.rate.per_second()}
        if state == sent:  # idle, nothing to wake the service for
            return
        try:
            conn.send(state)
        except (OSError, ValueError):
            relay.stop()
        sent = {**state, "topics_lost": dict(relay.topics_lost)}

    loop.add_reader(conn.fileno(), heard)
    try:
        await producer.start()
        task = asyncio.create_task(relay.run(), name=f"{schema}-outbox-relay")
        while not task.done():
            report()
            await asyncio.wait([task], timeout=STATE_EVERY_S)
        report()
        await task
    finally:
        loop.remove_reader(conn.fileno())
        await producer.stop()
        await engine.dispose()
