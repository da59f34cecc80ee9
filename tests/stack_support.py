"""What the cross-service tests share: the environment of a stack on the session's broker, a
runner for the real `rentflow` command, and a `rentflow up` process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

RENTFLOW = str(Path(sys.executable).parent / "rentflow")


def env_for(infra, database_url: str, topic_prefix: str, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
        "DATABASE_URL": database_url,
        "RENTFLOW_TOPIC_PREFIX": topic_prefix,
        "RENTFLOW_HOME": str(home),
        "RENTFLOW_PARTITIONS": "3",
        "RENTFLOW_LOG_FORMAT": "json",
        # the broker and database come from the environment (the session's), so `rentflow up` makes its local
        # admin only when told to, as a developer on their own PostgreSQL would tell it
        "RENTFLOW_LOCAL_ADMIN": "1",
    })
    return env


def runner(env: dict[str, str]) -> Callable[..., Any]:
    """Runs `rentflow ARGS`; returns the parsed JSON of stdout when --json is given, else the process."""

    def run(*args: str, check: bool = True, timeout: float = 180, cwd: Any = None,
            extra_env: dict[str, str] | None = None) -> Any:
        proc = subprocess.run([RENTFLOW, *args], env={**env, **(extra_env or {})}, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)
        if check and proc.returncode != 0:
            raise AssertionError(f"rentflow {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        if check and ("--json" in args or "json" in args):
            return json.loads(proc.stdout)
        return proc

    return run


class Up:
    """A `rentflow up` process and the runtime.json it wrote."""

    def __init__(self, env: dict[str, str]) -> None:
        self.home = Path(env["RENTFLOW_HOME"])
        self.proc = subprocess.Popen([RENTFLOW, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.runtime = self._wait_for_runtime(timeout=180)

    def _wait_for_runtime(self, timeout: float) -> dict[str, Any]:
        path = self.home / "runtime.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rentflow up exited early with {self.proc.returncode}: "
                                     f"{self.proc.stderr.read().decode()[-3000:]}")
            if path.exists():
                return json.loads(path.read_text())
            time.sleep(0.2)
        raise AssertionError(f"{path} not written within {timeout} s")

    def url(self, service: str) -> str:
        return self.runtime["services"][service]["url"]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 90) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)
