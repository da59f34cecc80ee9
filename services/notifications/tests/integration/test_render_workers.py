"""Issue 10's leftover: the letter-rendering worker processes end with the process that started them,
even when it is SIGKILLed (no pool shutdown runs). Real processes: a parent builds the service's own
render pool (entrypoints/workers.render_pool), has both workers busy, prints their pids and is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rentflow_common.testing import process_alive

PARENT = """
import os, sys, time
from rentflow_notifications.entrypoints.workers import render_pool

if __name__ == "__main__":
    pool = render_pool(2)
    # two tasks at once so both workers start; each says its pid, then the workers sit in the pool
    pids = {f.result() for f in [pool.submit(_pid, 0.5) for _ in range(4)]}
    print(" ".join(map(str, sorted(pids))), flush=True)
    busy = pool.submit(time.sleep, 600)  # one worker in the middle of a long job, the other idle
    time.sleep(600)
"""
WORKER = """
import os, time

def _pid(pause):
    time.sleep(pause)
    return os.getpid()
"""


alive = process_alive


def test_render_workers_end_when_the_service_is_sigkilled(tmp_path):
    (tmp_path / "render_helpers.py").write_text(WORKER)
    script = tmp_path / "parent.py"
    script.write_text("from render_helpers import _pid\n" + PARENT)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, start_new_session=True)
    workers: list[int] = []
    try:
        line = parent.stdout.readline().decode().split()  # type: ignore[union-attr]
        assert line, parent.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        workers = [int(p) for p in line]
        assert len(workers) == 2 and all(alive(p) for p in workers)
        time.sleep(0.5)  # the long job has reached a worker
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 5
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in workers if alive(p)] == [], "render workers outlived their SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for p in workers:  # never leave one behind, whatever failed above
            if alive(p):
                os.kill(p, signal.SIGKILL)
