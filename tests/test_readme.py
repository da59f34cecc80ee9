"""README.md's "Using it", top to bottom as written, from a fresh clone.

The commands are read from README.md, so the two cannot drift. The clone is the repository's
tracked files copied to a temporary folder (nothing else: no .venv, no sample files); `./dev`
installs into it as it would for a newcomer. `./dev rentflow up` runs for real, on the session's
broker and a database of its own; every other line runs in one bash script, in order."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from rentflow_common.testing import fresh_database

ROOT = Path(__file__).resolve().parent.parent


def using_it(readme: str) -> str:
    """The first ```sh block of the "## Using it" section."""
    section = readme.split("\n## Using it", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "README.md's Using it has no ```sh block"
    return found.group(1)


def fresh_clone(into: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():  # a file deleted in the working tree is not in a clone of it either
            dest = into / name.decode()
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    return into


@pytest.mark.timeout(1200)
def test_the_readme_using_it_runs_as_written_from_a_fresh_clone(infra, tmp_path):
    block = using_it((ROOT / "README.md").read_text())
    lines = block.splitlines()
    up = [n for n, line in enumerate(lines) if re.match(r"^\./dev rentflow up\b", line)]
    assert up == [0], "the block starts the stack with ./dev rentflow up, then runs the rest"
    clone = fresh_clone(tmp_path / "rentflow")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "RENTFLOW_HOME", "UV_PROJECT_ENVIRONMENT")}
    env.update({"KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers, "DATABASE_URL": fresh_database(infra),
                "RENTFLOW_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:8]}.", "RENTFLOW_PARTITIONS": "3",
                "RENTFLOW_LOG_FORMAT": "json", "COLUMNS": "80",
                "RENTFLOW_LOCAL_ADMIN": "1"})  # the session's broker and database, not the embedded default
    if (ROOT / ".tools" / "bin" / "uv").exists():  # the uv this checkout installed: not downloaded again
        env["PATH"] = f"{ROOT / '.tools' / 'bin'}{os.pathsep}{env['PATH']}"
    install = subprocess.run(["./dev", "install"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    stack = subprocess.Popen(["bash", "-c", lines[0]], cwd=clone, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        runtime = clone / ".rentflow" / "runtime.json"  # RENTFLOW_HOME's default, in the clone
        deadline = time.monotonic() + 180
        while not runtime.exists():
            assert stack.poll() is None, stack.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "rentflow up did not write its runtime.json"
            time.sleep(0.3)
        script = "\n".join(lines[1:])
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=clone, env=env, capture_output=True,
                             text=True, timeout=1100)
        (tmp_path / "stdout.txt").write_text(run.stdout)  # to read after a failure
        (tmp_path / "stderr.txt").write_text(run.stderr)
        assert run.returncode == 0, f"exit {run.returncode}\n--- stdout\n{run.stdout[-6000:]}\n--- stderr\n{run.stderr[-4000:]}"
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        assert stack.wait(90) == 0
    out = run.stdout
    assert "created 5,000, updated 0, unchanged 0, rejected 0" in out
    assert re.search(r"approved [0-9a-f-]{36}: transfer of £10\.00 of credit from \d+ to \d+", out), out
    assert "GL reconciliation 2026-10: balanced" in out
    assert "Rent and charges debited" in out and "basic rent (DBR)" in out
    assert (clone / "sample" / "accounts.csv").exists() and any((clone / "statements").iterdir())
    rules = [line for line in out.splitlines() if line.startswith("─")]  # each table's rule spans the table
    assert len(rules) >= 8 and max(len(line) for line in rules) <= 80  # every table fits 80 columns
