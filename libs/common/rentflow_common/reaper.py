"""Stops what a process started (the embedded broker and database, `rentflow up`'s services) when
that process is gone, however it ended: a SIGKILL gives it no chance to stop them itself.

`Reaper.start(home)` spawns a small watchdog (`python -m rentflow_common.reaper`, standard library
only) in a session of its own. The owner registers what it starts in `home/reap/`: one file per
part naming a pid and its start time (a pid the system gave to another process since is left
alone), or for PostgreSQL its data directory (the postmaster's pid is read from there when it is
time, so a restart under supervision is covered). The watchdog notices its parent is gone within
half a second, sends services SIGTERM (their own clean stop) and waits for them, then stops the
broker (SIGTERM) and the database (SIGINT: PostgreSQL's fast shutdown), and SIGKILLs what is still
there after the grace period. A clean stop by the owner stops the watchdog first."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5
GRACE_S = 35.0  # a service's own drain takes up to 30 s
ORDER = ("service", "broker", "database")  # what consumes first, then what it consumes from


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def running(pid: int, started: str | None) -> bool:
    """The same process (pid and start time) is there and not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    return fields[0] != "Z" and (started is None or fields[19] == started)


@functools.cache
def _pid_space() -> str | None:
    """What processes that see the same pids share: the kernel's boot and the pid namespace (None off Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}.{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:
        return None


def process_key() -> str | None:
    """This process, named so that another process can tell whether it has ended (`process_gone`)."""
    space, pid = _pid_space(), os.getpid()
    return None if space is None else f"{space}/{pid}/{start_time(pid) or ''}"


def process_gone(key: str | None) -> bool:
    """True when the process `key` names (`process_key`) has ended; False while it runs, and when this
    process cannot tell (no key, or a process of another machine or pid namespace)."""
    space, _, rest = (key or "").partition("/")
    pid, _, started = rest.partition("/")
    return space == _pid_space() and pid.isdigit() and not running(int(pid), started or None)


class Reaper:
    """The owner's side: starts the watchdog and registers what it should stop."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "reap"
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, home: Path) -> "Reaper":
        reaper = cls(home)
        reaper.dir.mkdir(parents=True, exist_ok=True)
        for stale in reaper.dir.iterdir():  # an earlier owner's, reaped or gone
            stale.unlink(missing_ok=True)
        reaper.proc = subprocess.Popen(
            [sys.executable, "-m", "rentflow_common.reaper", str(os.getpid()), str(reaper.dir)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)  # a terminal's Ctrl-C or hang-up is the owner's to handle
        return reaper

    def process(self, kind: str, name: str, pid: int) -> None:
        """`kind` is "service" or "broker": stopped with SIGTERM."""
        self._write(f"{kind}-{name}", f"{pid} {start_time(pid) or ''}")

    def database(self, name: str, pgdata: Path) -> None:
        self._write(f"database-{name}", f"pgdata {pgdata}")

    def forget(self, kind: str, name: str) -> None:
        (self.dir / f"{kind}-{name}").unlink(missing_ok=True)

    def _write(self, entry: str, text: str) -> None:
        tmp = self.dir / f".{entry}.tmp"
        tmp.write_text(text)
        tmp.replace(self.dir / entry)

    def stop(self) -> None:
        """The owner is stopping everything itself: the watchdog goes first."""
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None


def terminate(proc: "subprocess.Popen[bytes]", wait_s: float = 5.0) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `wait_s`."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------- the watchdog


def _targets(directory: Path, kind: str) -> list[tuple[int, str | None, int]]:
    """(pid, start time, signal) of the registered parts of `kind` that are still running."""
    out = []
    for entry in sorted(directory.glob(f"{kind}-*")):
        try:
            text = entry.read_text().split(maxsplit=1)
        except OSError:
            continue
        if text and text[0] == "pgdata":
            pid = _postmaster_pid(Path(text[1]))
            if pid is not None and running(pid, None):
                out.append((pid, None, signal.SIGINT))
        elif text:
            pid, started = int(text[0]), (text[1] if len(text) > 1 else None)
            if running(pid, started):
                out.append((pid, started, signal.SIGTERM))
    return out


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def reap(directory: Path, grace_s: float = GRACE_S) -> None:
    for kind in ORDER:
        targets = _targets(directory, kind)
        for pid, _, sig in targets:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while any(running(pid, started) for pid, started, _ in targets) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid, started, _ in targets:
            if running(pid, started):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def main(argv: list[str]) -> None:
    owner, directory = int(argv[0]), Path(argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the owner stops it: nothing to do
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.getppid() == owner:
        time.sleep(POLL_S)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # reaping now: finish it
    reap(directory)
    for entry in directory.glob("*"):
        entry.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv[1:])
