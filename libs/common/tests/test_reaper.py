"""The embedded broker and database end with the process that started them, even when it is
SIGKILLed (a killed pytest or `rentflow up` used to leave them running, adopted by init). Real
processes: a child starts the embedded infrastructure in a home of its own and is SIGKILLed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rentflow_common.reaper import Reaper, reap, running, start_time
from rentflow_common.testing import process_alive

START = """
import json, sys
from pathlib import Path
from rentflow_common.infra import start_infrastructure
infra = start_infrastructure(Path(sys.argv[1]), database="reaped")
print(json.dumps({"broker": infra.supervised["broker"].pid(), "database": infra.supervised["database"].pid(),
                  "reaper": infra.reaper.proc.pid}), flush=True)
sys.stdin.read()  # until the test kills it, or closes stdin for a clean stop
infra.stop()
"""


def _own_infrastructure_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env["RENTFLOW_NO_DOCKER"] = "1"
    return env


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if process_alive(p)]


@pytest.mark.timeout(300)
def test_embedded_broker_and_database_stop_when_their_owner_is_sigkilled(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", START, str(tmp_path / "home")], env=_own_infrastructure_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    pids: dict[str, int] = {}
    try:
        pids = json.loads(owner.stdout.readline())  # type: ignore[union-attr]
        assert all(process_alive(p) for p in pids.values()), pids

        owner.kill()
        owner.wait(10)
        assert _gone_within(list(pids.values()), 90) == [], "left running after their owner was SIGKILLed"
        assert list((tmp_path / "home" / "reap").glob("*")) == []
    finally:
        for pid in pids.values():
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if owner.poll() is None:
            owner.kill()


@pytest.mark.timeout(300)
def test_a_clean_stop_stops_the_watchdog_too(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", START, str(tmp_path / "home")], env=_own_infrastructure_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)
    pids = json.loads(owner.stdout.readline())  # type: ignore[union-attr]
    try:
        owner.stdin.close()  # type: ignore[union-attr]  # reads EOF: the infrastructure's own stop
        assert owner.wait(60) == 0
        assert _gone_within(list(pids.values()), 5) == []
    finally:
        for pid in pids.values():
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_pid_given_to_another_process_since_is_left_alone(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        reaper = Reaper(tmp_path)
        reaper.dir.mkdir()
        reaper.process("service", "reused", sleeper.pid)  # registered as it really is: reaped
        (reaper.dir / "service-other").write_text(f"{sleeper.pid} 1")  # a different start time: not ours
        assert running(sleeper.pid, start_time(sleeper.pid)) and not running(sleeper.pid, "1")

        (reaper.dir / "service-reused").unlink()
        reap(reaper.dir, grace_s=1)
        assert sleeper.poll() is None, "killed a process that merely has a registered pid"

        reaper.process("service", "reused", sleeper.pid)
        reap(reaper.dir, grace_s=5)
        assert sleeper.wait(5) == -signal.SIGTERM
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_a_process_key_tells_an_ended_process_from_a_running_one():
    """What notifications uses to release the email claims of a killed process at once."""
    from rentflow_common.reaper import process_gone, process_key

    mine = process_key()
    assert mine is not None and mine.endswith(f"/{os.getpid()}/{start_time(os.getpid())}")
    assert process_gone(mine) is False
    child = subprocess.run([sys.executable, "-c", "from rentflow_common.reaper import process_key; print(process_key())"],
                           capture_output=True, text=True, check=True, timeout=60)
    ended = child.stdout.strip()
    assert ended.split("/")[0] == mine.split("/")[0] and process_gone(ended) is True
    space, pid, started = mine.split("/")
    assert process_gone(f"{space}/{pid}/{int(started) + 1}") is True  # the pid, now another process's
    # what it cannot tell is never "gone": another machine's or pid namespace's, or no key at all
    assert process_gone(f"another-boot.1/{pid}/{started}") is False
    assert process_gone(None) is False and process_gone("") is False and process_gone(f"{space}/x/1") is False
