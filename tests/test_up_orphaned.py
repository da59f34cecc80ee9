"""Issue 10's leftover: a `rentflow up` whose parent is SIGKILLed does not run on for ever. Real
processes: a shell starts `rentflow up` (on the session's broker and a fresh database), the shell is
SIGKILLed and the pipes it read are closed, and `rentflow up` stops its four services and exits."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from stack_support import RENTFLOW
from rentflow_common.testing import process_alive


alive = process_alive


@pytest.mark.timeout(600)
def test_rentflow_up_stops_everything_when_its_parent_is_sigkilled(stack_env):
    home = Path(stack_env["RENTFLOW_HOME"])
    shell = subprocess.Popen(["bash", "-c", f'"{RENTFLOW}" up & echo $!; wait'], env=stack_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             # a terminal's shell: SIGHUP not ignored, even when the tests run under nohup
                             # (`up` under nohup outlives its parent on purpose)
                             preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL))
    up_pid, services = 0, {}
    try:
        up_pid = int(shell.stdout.readline())  # type: ignore[union-attr]
        deadline = time.monotonic() + 240
        while not (home / "runtime.json").exists():
            assert alive(up_pid) and time.monotonic() < deadline, shell.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            time.sleep(0.3)
        runtime = json.loads((home / "runtime.json").read_text())
        services = {name: s["pid"] for name, s in runtime["services"].items()}
        assert runtime["pid"] == up_pid and all(alive(p) for p in services.values())

        os.kill(shell.pid, signal.SIGKILL)
        shell.wait(10)
        shell.stdout.close()  # type: ignore[union-attr]  # no one reads what `up` writes any more
        shell.stderr.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 60  # the services' own clean stop (SIGTERM) within this
        while (alive(up_pid) or any(alive(p) for p in services.values())) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(up_pid), "rentflow up runs on with its parent gone"
        assert {n: p for n, p in services.items() if alive(p)} == {}
        assert not (home / "runtime.json").exists()  # a clean stop, not a crash
        log = (home / "logs" / "supervisor.log").read_text()
        assert f"its parent (pid {shell.pid}) is gone; stopping everything" in log
    finally:
        for pid in [up_pid, *services.values()]:  # never leave one behind, whatever failed above
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
        if shell.poll() is None:
            shell.kill()


@pytest.mark.timeout(600)
def test_services_stop_when_rentflow_up_itself_is_sigkilled(stack_env):
    """`up` gets no chance to stop anything: its reaper (rentflow_common.reaper) stops the services."""
    home = Path(stack_env["RENTFLOW_HOME"])
    up = subprocess.Popen([str(RENTFLOW), "up"], env=stack_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
    services: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 240
        while not (home / "runtime.json").exists():
            assert up.poll() is None and time.monotonic() < deadline, up.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            time.sleep(0.3)
        services = {name: s["pid"] for name, s in json.loads((home / "runtime.json").read_text())["services"].items()}
        assert all(alive(p) for p in services.values())

        up.kill()
        up.wait(10)
        deadline = time.monotonic() + 60  # the reaper clears its list once everything it stopped has gone
        while (any(alive(p) for p in services.values()) or list((home / "reap").glob("*"))) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        assert {n: p for n, p in services.items() if alive(p)} == {}, "services run on after `up` was SIGKILLed"
        assert list((home / "reap").glob("*")) == []
    finally:
        for pid in services.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if up.poll() is None:
            up.kill()
