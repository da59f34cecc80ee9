"""CPU seconds spent by the processes of a run, by group (each service, PostgreSQL, the broker,
the bench itself): on a shared machine, CPU per payment is steadier than wall-clock rates."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil


def infra_processes(home: Path, bootstrap: str) -> dict[str, list[psutil.Process]]:
    """This run's embedded PostgreSQL (found by its data directory under `home`) and broker
    (found by its listener address)."""
    groups: dict[str, list[psutil.Process]] = {"postgres": [], "broker": []}
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(home) in cmd and "postgres" in cmd and " -D " in f" {cmd}":
            groups["postgres"].append(proc)
        elif f"tcp://{bootstrap}" in cmd:
            groups["broker"].append(proc)
    return groups


class CpuMeter:
    """CPU seconds of each group (a root process and all its children) since the meter started."""

    def __init__(self, groups: dict[str, list[psutil.Process]]) -> None:
        self.groups = groups
        self.alone: set[str] = set()  # groups counted without their children
        self._base = self.read()
        self._waits_base = self.read_waits()
        self._faults_base = self.read_faults()

    @classmethod
    def of_pids(cls, pids: dict[str, int], extra: dict[str, list[psutil.Process]] | None = None) -> "CpuMeter":
        groups = {name: [psutil.Process(pid)] for name, pid in pids.items()}
        groups.update(extra or {})
        meter = cls(groups)
        meter.alone = {"bench"}  # the stack's processes are the bench's children: count it alone
        meter.groups["bench"] = [psutil.Process(os.getpid())]
        meter._base = meter.read()
        meter._waits_base = meter.read_waits()
        meter._faults_base = meter.read_faults()
        return meter

    def read(self) -> dict[str, float]:
        return {name: sum(backend_cpu(roots, children=name not in self.alone).values())
                for name, roots in self.groups.items()}

    def since_start(self) -> dict[str, float]:
        now = self.read()
        return {k: now[k] - self._base.get(k, 0.0) for k in now}

    def waits_since_start(self) -> dict[str, float]:
        """Seconds each group's threads alive now were runnable but waited for a core since the meter
        started (a thread that ended meanwhile is not counted); empty where Linux keeps no schedstat."""
        if not any(self._waits_base.values()):
            return {}
        return {name: sum(w - self._waits_base[name].get(key, 0.0) for key, w in now.items())
                for name, now in self.read_waits().items()}

    def read_waits(self) -> dict[str, dict[tuple[int, int], float]]:
        return {name: core_waits(roots, children=name not in self.alone) for name, roots in self.groups.items()}

    def read_faults(self) -> dict[str, dict[int, int]]:
        return {name: page_faults(roots, children=name not in self.alone) for name, roots in self.groups.items()}

    def faults_since_start(self) -> dict[str, int]:
        """Page faults taken by each group's processes alive now since the meter started (a process
        started meanwhile counts from zero, one that ended is not counted)."""
        return {name: sum(n - self._faults_base[name].get(pid, 0) for pid, n in now.items())
                for name, now in self.read_faults().items()}


class IdleTrace:
    """The whole machine's idle share over a run (psutil.cpu_times every `every` s), to tell its
    phases apart: every core busy while the intake takes pushes, idle left while the last stage drains."""

    def __init__(self, every: float = 0.1) -> None:
        self.every = every
        self.samples: list[tuple[float, float, float]] = []  # (time, idle seconds, all seconds) of every core
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            t = psutil.cpu_times()  # guest time is counted in user time already
            busy_or_not = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
            self.samples.append((time.time(), t.idle + getattr(t, "iowait", 0.0), busy_or_not))
            await asyncio.sleep(self.every)

    def idle_between(self, start: float, end: float) -> float | None:
        """Idle share of all cores from `start` to `end` (between the first and last samples in it)."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2 or inside[-1][2] <= inside[0][2]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][2] - inside[0][2])


def python_speed(steps: int = 200_000, repeats: int = 5) -> float:
    """ns a step of a fixed pure-Python loop (a dict store of a tuple and a str, as service code does), the
    fastest of `repeats`: how fast this machine runs Python at the moment. It moves from session to session
    on this shared machine (1.5-2.6 s for the same 20M-step loop within minutes), and a run's CPU per
    payment moves with it; printed beside the figures so runs of different sessions can be compared."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        kept: dict[int, tuple[int, str]] = {}
        for i in range(steps):
            kept[i & 1023] = (i, str(i))
        best = min(best, time.perf_counter() - started)
    return 1e9 * best / steps


def per_item(seconds: dict[str, float], items: int) -> str:
    parts = [f"{name} {1e6 * sec / items:.0f}" for name, sec in seconds.items()]
    total = sum(seconds.values())
    return ", ".join(parts) + f"; total {1e6 * total / items:.0f} µs per payment"


async def postgres_by_client(database_url: str, roots: list[psutil.Process],
                             base: dict[int, float] | None = None) -> dict[str, float]:
    """PostgreSQL's CPU split by the client each backend serves (its application_name, which each
    service sets), since `base` (pid -> CPU seconds, from backend_cpu) when given."""
    import asyncpg

    from rentflow_common.db import plain_url

    conn = await asyncpg.connect(plain_url(database_url))
    try:
        names = {r["pid"]: r["application_name"] or "other"
                 for r in await conn.fetch("select pid, application_name from pg_stat_activity")}
    finally:
        await conn.close()
    out: dict[str, float] = {}
    for pid, sec in backend_cpu(roots).items():
        name = names.get(pid, "other (background, closed connections)").removeprefix("rentflow-")
        out[name] = out.get(name, 0.0) + sec - (base or {}).get(pid, 0.0)
    return out


def _processes(roots: list[psutil.Process], children: bool) -> list[psutil.Process]:
    """The roots still running, each followed (when `children`) by all its children."""
    out = []
    for root in roots:
        try:
            out += [root, *(root.children(recursive=True) if children else [])]
        except psutil.NoSuchProcess:
            pass
    return out


def page_faults(roots: list[psutil.Process], children: bool = True) -> dict[int, int]:
    """Page faults (minor and major: /proc/PID/stat's minflt and majflt) of each process of the roots
    and (by default) their children: a page touched for the first time since it was mapped (new memory,
    or memory handed back to the system and taken again), each a trip through the kernel counted in the
    process's CPU seconds — about 3 µs on this project's virtual machine, far less on bare metal."""
    out = {}
    for proc in _processes(roots, children):
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        out[proc.pid] = int(fields[7]) + int(fields[9])  # minflt, majflt (fields 10 and 12 of stat)
    return out


def core_waits(roots: list[psutil.Process], children: bool = True) -> dict[tuple[int, int], float]:
    """Seconds each thread (pid, tid) of the roots (and by default their children) has spent runnable
    but waiting for a core: /proc/PID/task/TID/schedstat's second field (the kernel's
    Documentation/scheduler/sched-stats.rst: time on the cpu, time waiting on a runqueue, timeslices,
    in nanoseconds). Time a process spends there is time the cores were short, which its CPU seconds
    do not show."""
    out = {}
    for proc in _processes(roots, children):
        try:
            tids = os.listdir(f"/proc/{proc.pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                fields = Path(f"/proc/{proc.pid}/task/{tid}/schedstat").read_text().split()
            except OSError:
                continue
            out[(proc.pid, int(tid))] = int(fields[1]) / 1e9
    return out


def backend_cpu(roots: list[psutil.Process], children: bool = True) -> dict[int, float]:
    """CPU seconds of each process: the roots, and (by default) all their children."""
    out = {}
    for proc in _processes(roots, children):
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:  # ended since it was listed: the others still count
            continue
        out[proc.pid] = t.user + t.system
    return out
