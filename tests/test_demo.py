"""`rentflow demo`, as a newcomer runs it: the KPI table is one a housing finance reader accepts
at a glance (every figure checked against the others and against what a council's month looks
like), and the closing hints are true: with --keep the stack is up and the hinted commands work;
without it the stack is gone and the hint is --keep."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from stack_support import RENTFLOW, runner


def read_until(proc: subprocess.Popen, marker: str, timeout: float, stderr: Path | None = None) -> str:
    """stdout of a running process up to `marker` (read from the pipe as it comes, unbuffered); a
    failure shows the end of `stderr` (the file the process writes its stderr to)."""
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        if proc.poll() is not None:
            said = stderr.read_text(errors="replace")[-3000:] if stderr and stderr.exists() else ""
            raise AssertionError(f"the demo exited {proc.returncode}:\n{seen.decode()}\nstderr:\n{said}")
        assert time.monotonic() < deadline, f"no {marker!r} within {timeout} s:\n{seen.decode()}"
        if select.select([fd], [], [], 1.0)[0]:
            seen += os.read(fd, 65536)
    return seen.decode()


@pytest.mark.timeout(900)
def test_demo_keep_leaves_the_stack_up_and_its_figures_add_up(stack_env, tmp_path):
    env = {**stack_env, "COLUMNS": "100"}
    demo_home = Path(env["RENTFLOW_HOME"]) / "demo"
    stderr = tmp_path / "demo.stderr"
    with open(stderr, "wb") as err:
        proc = subprocess.Popen([RENTFLOW, "demo", "--keep"], env=env, stdout=subprocess.PIPE, stderr=err)
    try:
        out = read_until(proc, "Ctrl-C here stops it.", timeout=600, stderr=stderr)
        hinted = re.findall(rf"^  RENTFLOW_HOME={re.escape(str(demo_home))} rentflow (.+)$", out, re.M)
        assert "tasks list --kind dd_failure" in hinted and len(hinted) >= 3, out
        rf = runner({**env, "RENTFLOW_HOME": str(demo_home)})
        for command in hinted:  # every hint works on the stack the demo left running
            rf(*command.split())
        kpi = rf("kpi", "--period", "month", "--as-of", "2026-10-31", "--format", "json")
        suspense = rf("suspense", "list", "--json")
        recon = rf("gl", "reconcile", "--period", "2026-10", "--json")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(120)
    assert code == 0 and not (demo_home / "runtime.json").exists()

    # the table as printed: named figures in £ and %, never raw pence
    dbr = kpi["debit_by_type"]["DBR"]
    assert re.search(rf"basic rent \(DBR\) +£{dbr // 100:,}\.{dbr % 100:02d}\b", out), out
    assert str(dbr) not in out and "debit_by_type" not in out
    # the figures agree with each other
    assert sum(kpi["debit_by_type"].values()) == kpi["debit_pence"]
    assert sum(kpi["collected_by_channel"].values()) == kpi["collected_pence"]
    assert kpi["suspense_count"] == len(suspense) and kpi["suspense_pence"] == sum(s["amount_pence"] for s in suspense)
    assert recon["balanced"] and recon["accounts_total_pence"] == recon["control_account_pence"]
    assert kpi["tenants_over_7_weeks_arrears"] <= kpi["current_tenancies_in_arrears"]
    # and look like a council's month: a sample of 5,000 homes with a normal arrears profile
    current = kpi["current_tenancies"]
    assert 4500 <= current <= 5000
    assert 0.06 <= kpi["current_tenancies_in_arrears"] / current <= 0.12  # about 9%, not 96%
    assert Decimal("95") <= Decimal(str(kpi["rent_collected_pct_excl_arrears_bf"])) <= Decimal("103")
    assert Decimal("0.5") <= Decimal(str(kpi["current_tenant_arrears_pct"])) <= Decimal("3")
    assert Decimal("0.5") <= Decimal(str(kpi["dd_failure_rate_pct"])) <= Decimal("3")
    assert Decimal("30") <= Decimal(str(kpi["dd_take_up_pct"])) <= Decimal("40")
    closing = kpi["current_tenant_arrears_pence"] + kpi["former_tenant_arrears_pence"]
    assert 0.7 <= kpi["arrears_brought_forward_pence"] / closing <= 1.3  # a month moves arrears, it does not halve them
    weekly_roll = kpi["annual_rent_debit_pence"] / 52
    assert 3.8 <= kpi["debit_pence"] / weekly_roll <= 4.2  # October charges its four rent weeks


@pytest.mark.timeout(600)
def test_demo_without_keep_stops_and_says_how_to_look_around(stack_env):
    proc = subprocess.run([RENTFLOW, "demo", "--accounts", "200"], env=stack_env, capture_output=True, text=True,
                          timeout=540)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rentflow demo --keep" in proc.stdout
    assert "RENTFLOW_HOME=" not in proc.stdout and "tasks list" not in proc.stdout  # no commands for a stopped stack
    assert not (Path(stack_env["RENTFLOW_HOME"]) / "demo" / "runtime.json").exists()
    assert "\r" not in proc.stderr  # progress, redirected, is whole lines
