"""The running stack: broker and database (environment, testcontainers or embedded), the
topics, and the four services, each its own process; `runtime.json` describes it.

`Stack.supervise_once()`, called by `rentflow up` every half second, starts again whatever died:
a service process, and the embedded broker and database when rentflow started them (a broker or
database of the environment is not ours to restart). Each restart waits longer after a death
soon after the last start (0.5 s doubling to 30 s), is logged (stderr and logs/supervisor.log)
and counted in runtime.json, which `rentflow status` shows. One `rentflow up` per home: the
second is refused with the first one's pid (an flock on `up.lock`). `orphaned()` tells `rentflow up`
that the process that started it is gone (SIGKILLed, or its terminal's shell): it then stops
everything rather than run on for ever with no one to stop it — unless it was started under `nohup`
(SIGHUP ignored), which asks for exactly that."""
from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import httpx

if TYPE_CHECKING:
    from rentflow_common.infra import Infrastructure

SERVICES = ("payments", "ledger", "notifications", "reporting")
RUNTIME_FILE = "runtime.json"
LOCK_FILE = "up.lock"
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # up this long, a death starts the backoff afresh
REPLAY_EVERYTHING = "2000-01-01T00:00:00+00:00"  # before anything an outbox retains
# after the embedded broker's restart, the topics' partition counts are looked at again (seconds after it):
# at once, then while the services' clients come back to it
RESHAPE_AFTER_S = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
SECRETS_KEY_FILE = "secrets.key"


class StackError(RuntimeError):
    pass


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    log_from: int = 0  # where this start's output begins in the log (appended to across starts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def listening(self) -> bool:
        """Its own process listens on its port: the answer on the port is this process's, not another's
        that took the port between `free_port` and this process binding it."""
        import psutil

        try:
            return self.proc is not None and any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == self.port
                for c in psutil.Process(self.proc.pid).net_connections("tcp"))
        except psutil.Error:
            return False

    def lost_its_port(self) -> bool:
        """This start ended because its port was taken (uvicorn's bind error in its output)."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_from)
                return b"address already in use" in f.read()
        except OSError:
            return False


@dataclass
class Restarts:
    """Backoff of one supervised component."""

    count: int = 0  # restarts since `rentflow up` started
    failures: int = 0  # deaths in a row, each soon after the last start
    started_at: float = field(default_factory=time.monotonic)
    retry_at: float | None = None  # when a restart is due (None: running)

    def died(self, now: float) -> float:
        if now - self.started_at > STABLE_AFTER_S:
            self.failures = 0
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** self.failures)
        self.failures += 1
        self.retry_at = now + delay
        return delay


@dataclass
class Stack:
    """Starts and stops everything `rentflow up` runs. Use as a context manager."""

    home: Path
    database: str = "rentflow"
    fresh_database: bool = False  # drop and recreate it first (never for a database given by the environment)
    partitions: int = field(default_factory=lambda: int(os.environ.get("RENTFLOW_PARTITIONS", "6")))
    topic_prefix: str = field(default_factory=lambda: os.environ.get("RENTFLOW_TOPIC_PREFIX", ""))
    say: Callable[[str], None] = lambda _: None
    infra: "Infrastructure | None" = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    restarts: dict[str, Restarts] = field(default_factory=dict)
    events: list[dict[str, object]] = field(default_factory=list)  # the last restarts, newest last
    republish: set[str] = field(default_factory=set)  # services still to be told the broker came back empty
    reshape_at: list[float] = field(default_factory=list)  # when to look again at the topics' partition counts
    _lock: object = None
    # the local operator `admin` (every role), its token in $RENTFLOW_HOME/admin.token: None makes it on the
    # embedded default (or with RENTFLOW_LOCAL_ADMIN=1), never silently on infrastructure from the environment
    local_admin: bool | None = None
    admin_made: bool = False
    parent_pid: int = field(default_factory=os.getppid)  # who started `rentflow up`
    # under nohup (SIGHUP ignored) it is meant to outlive its terminal and the shell that started it
    watch_parent: bool = field(default_factory=lambda: signal.getsignal(signal.SIGHUP) != signal.SIG_IGN)

    def __enter__(self) -> "Stack":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        # imported here: the database and broker libraries take a second or two to load, which
        # every other command (that only talks HTTP to a running stack) need not pay
        from rentflow_common.infra import free_port, start_infrastructure
        from rentflow_common.kafka import ensure_topics

        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self._lock = lock_home(self.home)
        try:
            self.infra = start_infrastructure(self.home, database=self.database,
                                              log=lambda m: self.say(m))  # self.say as it is then
            self.say(f"broker {self.infra.kafka_bootstrap_servers} ({self.infra.kafka_source}), "
                     f"database ({self.infra.database_source})")
            if self.fresh_database and self.infra.database_source != "environment":
                asyncio.run(recreate_database(self.infra.database_url))
            asyncio.run(ensure_topics(self.infra.kafka_bootstrap_servers, self.partitions, prefix=self.topic_prefix))
            for name in SERVICES:
                self.services[name] = ServiceProcess(name, free_port(), self.home / "logs" / f"{name}.log")
                self.start_service(name, wait=False)
            for name in SERVICES:
                self.wait_healthy(name)
            if self.wants_local_admin():
                self.make_local_admin()
            self.write_runtime()
        except BaseException:
            self.stop()
            raise

    def wants_local_admin(self) -> bool:
        assert self.infra is not None
        if self.local_admin is not None:
            return self.local_admin
        if os.environ.get("RENTFLOW_LOCAL_ADMIN", "").strip().lower() in ("1", "true", "yes"):
            return True
        return self.infra.database_source != "environment"

    def make_local_admin(self) -> None:
        from rentflow_cli.identity import ensure_local_admin, wait_until_known

        assert self.infra is not None
        token, self.admin_made = ensure_local_admin(self.infra.database_url, self.home)
        wait_until_known({s.name: s.url for s in self.services.values()}, token)
        self.say(f"local admin: token in {self.home / 'admin.token'}" + (" (new)" if self.admin_made else ""))

    def service_env(self, service: ServiceProcess) -> dict[str, str]:
        assert self.infra is not None
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka_bootstrap_servers,
            "DATABASE_URL": self.infra.database_url,
            "RENTFLOW_HOME": str(self.home),
            "RENTFLOW_PORT": str(service.port),
            "RENTFLOW_PARTITIONS": str(self.partitions),
            "RENTFLOW_TOPIC_PREFIX": self.topic_prefix,
        })
        env.setdefault("RENTFLOW_LOG_FORMAT", "json")
        if service.name == "payments" and not env.get("RENTFLOW_SECRETS_KEY"):
            env["RENTFLOW_SECRETS_KEY"] = secrets_key(self.home, self.say)
        return env

    def start_service(self, name: str, wait: bool = True) -> None:
        service = self.services[name]
        log = open(service.log_path, "ab")
        service.log_from = log.tell()
        service.proc = subprocess.Popen([sys.executable, "-m", f"rentflow_{name}"], env=self.service_env(service),
                                        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        log.close()
        if self.infra is not None and self.infra.reaper is not None:  # stopped even if `up` is SIGKILLed
            self.infra.reaper.process("service", name, service.proc.pid)
        if wait:
            self.wait_healthy(name)
            self.write_runtime()

    def wait_healthy(self, name: str, timeout: float = 90.0, port_retries: int = 3) -> None:
        """Returns once the service's own process answers /health with 200. Its port is picked free
        (`free_port`) but only bound by the service later: if another process took it meanwhile, the
        service is started again on another port (up to `port_retries` times)."""
        from rentflow_common.infra import free_port

        service = self.services[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.proc is None or service.proc.poll() is not None:
                code = service.proc.returncode if service.proc else None
                if service.proc is not None and port_retries > 0 and service.lost_its_port():
                    self.say(f"{name}: port {service.port} was taken by another process; starting it on another")
                    port_retries -= 1
                    service.port = free_port()
                    self.start_service(name, wait=False)
                    continue
                raise StackError(f"{name} exited with code {code} while starting: {last_line(service.log_path)} "
                                 f"(log: {service.log_path})")
            try:
                if httpx.get(service.url + "/health", timeout=2).status_code == 200 and service.listening():
                    self.say(f"{name} ready at {service.url}")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"{name} not healthy after {timeout:.0f} s (log: {service.log_path})")

    def kill_service(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.services[name].proc
        if proc and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(30)

    def exited(self) -> list[tuple[str, int]]:
        return [(s.name, s.proc.returncode) for s in self.services.values()
                if s.proc is not None and s.proc.poll() is not None]

    def stop(self) -> None:
        running = [s for s in self.services.values() if s.proc is not None and s.proc.poll() is None]
        for s in running:
            s.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + 35
        for s in running:
            try:
                s.proc.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                self.say(f"{s.name} did not stop within 35 s; killing it")
                s.proc.kill()  # type: ignore[union-attr]
                s.proc.wait()  # type: ignore[union-attr]
        if self.infra is not None:
            self.infra.stop()
            self.infra = None
        (self.home / RUNTIME_FILE).unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()  # type: ignore[attr-defined]
            self._lock = None

    # ------------------------------------------------------------------ supervision

    def orphaned(self) -> bool:
        """The process that started this one is gone (this one was adopted by init or a subreaper)."""
        return self.watch_parent and self.parent_pid > 1 and os.getppid() != self.parent_pid

    def parent_gone(self) -> None:
        """Logged (to logs/supervisor.log: the terminal went with the parent, and writing to a pipe
        nobody reads fails), and from now on nothing more is said there."""
        quiet: Callable[[str], None] = lambda _: None
        self.say = quiet
        self._log("rentflow", f"its parent (pid {self.parent_pid}) is gone; stopping everything")

    def supervise_once(self) -> None:
        """Notices what died since the last call and starts it again once its backoff is over."""
        assert self.infra is not None
        now = time.monotonic()
        changed = False
        for name, part in self.infra.supervised.items():  # the database and broker before the services
            r = self.restarts.setdefault(name, Restarts())
            if r.retry_at is None and not part.alive():
                self._died(name, r, now, f"pid {part.pid()} is gone")
            if r.retry_at is not None and now >= r.retry_at:
                try:
                    part.restart()
                    if name == "broker":  # the memory broker comes back empty: the topics, then everything again
                        from rentflow_common.kafka import ensure_topics

                        asyncio.run(ensure_topics(self.infra.kafka_bootstrap_servers, self.partitions,
                                                  prefix=self.topic_prefix))
                        self.republish = set(self.services)
                        self.reshape_at = [time.monotonic() + s for s in RESHAPE_AFTER_S]
                except Exception as exc:
                    self._log(name, f"restart failed: {type(exc).__name__}: {str(exc)[:200]}")
                    r.started_at = time.monotonic()
                    self._died(name, r, time.monotonic(), "could not start")
                    continue
                self._restarted(name, r, part.pid())
                changed = True
        for name, service in self.services.items():
            r = self.restarts.setdefault(name, Restarts())
            proc = service.proc
            if r.retry_at is None and (proc is None or proc.poll() is not None):
                code = proc.returncode if proc is not None else None
                why = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 and
                       -code in signal.valid_signals() else f"exited with code {code}: {last_line(service.log_path)}")
                self._died(name, r, now, why)
            if r.retry_at is not None and now >= r.retry_at:
                self.start_service(name, wait=False)
                self._restarted(name, r, service.proc.pid if service.proc else None)
                changed = True
        if self.reshape_at and time.monotonic() >= self.reshape_at[0]:
            self.reshape_at.pop(0)
            self._reshape_topics()
        for name in sorted(self.republish):
            self._ask_republish(name)
        if changed:
            self.write_runtime()

    def _reshape_topics(self) -> None:
        """After the embedded broker's restart, clients asking for topics before they were made again
        can leave one with another partition count than the stack's: the relays publish by stream to
        partitions 0..N-1, and consumers see only what the broker lists. One listed with fewer is
        made again with the stack's count, and everything published again."""
        from rentflow_common.kafka import reshape_topics

        assert self.infra is not None
        try:
            remade = asyncio.run(reshape_topics(self.infra.kafka_bootstrap_servers, self.partitions,
                                                prefix=self.topic_prefix))
        except Exception as exc:
            self._log("broker", f"could not check the topics' partitions: {type(exc).__name__}: {str(exc)[:200]}")
            return
        if remade:
            self._log("broker", f"made again with {self.partitions} partitions: "
                                + ", ".join(f"{t} (had {n})" for t, n in sorted(remade.items())))
            self.republish = set(self.services)

    def _ask_republish(self, name: str) -> None:
        """The embedded broker came back empty (memory storage): every service publishes again all
        its outbox retains, and the consumers (starting again from the beginning, their offsets gone
        with the broker) absorb what they had. Asked until the service answers: one restarting now
        is asked once it is up. (A relay notices a lost topic by itself only where it can tell: a
        partition it had written a single batch to looks the same as a new, empty one.)"""
        from rentflow_cli.identity import token_from

        token = token_from(self.home)
        try:
            r = httpx.post(self.services[name].url + "/v1/ops/replay", json={"since": REPLAY_EVERYTHING}, timeout=5,
                           headers={"Authorization": f"Bearer {token}"} if token else {})
        except httpx.HTTPError:
            return
        if r.status_code in (401, 403) and not token:
            self._log(name, "cannot ask it to publish again after the broker restart: no admin token in "
                            f"{self.home} (run `rentflow replay --since 2000-01-01T00:00` with an ops token)")
            self.republish.discard(name)
            return
        if r.status_code == 200:
            self.republish.discard(name)
            total = sum((r.json().get("republishing") or {}).values())
            self._log(name, f"publishing its retained outbox again after the broker restart ({total} events)")

    def _died(self, name: str, r: Restarts, now: float, why: str) -> None:
        delay = r.died(now)
        self._log(name, f"died ({why}); starting it again in {delay:.1f} s")

    def _restarted(self, name: str, r: Restarts, pid: int | None) -> None:
        r.count += 1
        r.retry_at = None
        r.started_at = time.monotonic()
        self.events = [*self.events, {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                      "component": name, "pid": pid, "restart": r.count}][-50:]
        self._log(name, f"restarted (pid {pid}; restart {r.count})")

    def _log(self, name: str, message: str) -> None:
        line = f"{dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')} {name} {message}"
        self.say(f"supervisor: {name} {message}")
        with open(self.home / "logs" / "supervisor.log", "a") as f:
            f.write(line + "\n")

    def runtime(self) -> dict[str, object]:
        assert self.infra is not None
        supervised = self.infra.supervised
        return {
            "services": {s.name: {"url": s.url, "pid": s.proc.pid if s.proc else None, "log": str(s.log_path)}
                         for s in self.services.values()},
            "kafka": {"bootstrap_servers": self.infra.kafka_bootstrap_servers, "source": self.infra.kafka_source,
                      "topic_prefix": self.topic_prefix, "partitions": self.partitions,
                      "pid": supervised["broker"].pid() if "broker" in supervised else None},
            "database": {"url": self.infra.database_url, "source": self.infra.database_source,
                         "pid": supervised["database"].pid() if "database" in supervised else None},
            "supervisor": {"restarts": {name: r.count for name, r in self.restarts.items()},
                           "total_restarts": sum(r.count for r in self.restarts.values()),
                           "recent": self.events[-20:], "log": str(self.home / "logs" / "supervisor.log")},
            "pid": os.getpid(),
            "home": str(self.home),
        }

    def write_runtime(self) -> None:
        path = self.home / RUNTIME_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.runtime(), indent=2))
        tmp.replace(path)


async def recreate_database(url: str) -> None:
    import asyncpg
    from urllib.parse import urlsplit

    from rentflow_common.db import plain_url
    from rentflow_common.infra import with_database

    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(plain_url(with_database(url, "postgres")))
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()


def lock_home(home: Path) -> object:
    """Holds `up.lock` in `home` for as long as the returned file stays open; refused (StackError
    naming the holder's pid) while another process holds it."""
    f = open(home / LOCK_FILE, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        f.close()
        raise StackError(f"rentflow is already running in {home} (pid {holder}); stop it first "
                         f"(Ctrl-C where it runs, or kill -TERM {holder}), or use another RENTFLOW_HOME") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def secrets_key(home: Path, say: Callable[[str], None] = lambda _: None) -> str:
    """The Fernet key payments encrypts provider secrets with when RENTFLOW_SECRETS_KEY is unset:
    $RENTFLOW_HOME/secrets.key, made (mode 0600) on first use. A stack on shared infrastructure should
    set RENTFLOW_SECRETS_KEY instead, so that every home reads the same secrets."""
    import base64

    path = home / SECRETS_KEY_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    say(f"made {path} (the key provider secrets are encrypted with; keep it, or set RENTFLOW_SECRETS_KEY)")
    return key


def last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no log"
    return lines[-1][-300:] if lines else "no output"


def read_runtime(home: Path) -> dict[str, object]:
    path = home / RUNTIME_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StackError(f"rentflow is not running here: no {path}; start it with `rentflow up`") from None
