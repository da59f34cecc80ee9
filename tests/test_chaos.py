"""Chaos, short: `rentflow up` as real processes on its own embedded broker and database, a
bounded load (pushes, a statement, a statement of reversals, an adjustment, a rent uprating whose
notices are emailed), and SIGKILL of each of payments, ledger, notifications, reporting, the broker
and PostgreSQL at random points (the seed is printed; RENTFLOW_CHAOS_SEED repeats a run). At the end
nothing is lost or doubled: the control total and the GL balance, every account's balance is what
was pushed for it, suspense holds exactly the unmatched payments (one task each), reporting's KPIs
equal a recomputation from the ledger, one rent review notice per rent change, no notice or email
sent twice. The long run is `./dev bench chaos` (bench/chaos.py)."""
from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import chaos  # noqa: E402


@pytest.mark.timeout(900)
def test_killing_every_part_under_load_loses_and_doubles_nothing():
    seed = int(os.environ.get("RENTFLOW_CHAOS_SEED") or random.randrange(1 << 31))
    print(f"chaos seed {seed} (repeat with RENTFLOW_CHAOS_SEED={seed})", file=sys.stderr, flush=True)
    # a folder of its own: pytest's tmp_path rotation (other runs on the machine) must not take the database
    work = Path(tempfile.mkdtemp(prefix="rentflow-chaos-test-"))
    try:
        # the pushes paced to last about as long as the six kills (1 to 3 s apart), so they land under load.
        # Emails notifications had claimed when it was killed are sent again by its restarted process at once
        # (release_orphaned_emails); before that they waited out their lease (5 minutes), which with a settle
        # of 300 s left seconds to spare or none (seed 1293271616 passed in 341 s on that wait). The settle
        # keeps room for the lease, which still holds a claim whose process this machine cannot see.
        result = chaos.run(work, payments=1200, kills=len(chaos.COMPONENTS), seed=seed, accounts=120, batch=100,
                           file_entries=120, reversals=12, push_pause_s=0.8, kill_gap_s=(1.0, 3.0),
                           settle_timeout_s=420)
    except BaseException:
        print(f"chaos seed {seed}: logs kept in {work}", file=sys.stderr)
        raise
    if not result.problems:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"chaos seed {seed}: logs kept in {work}", file=sys.stderr)
    print(result.report(), file=sys.stderr, flush=True)
    assert sorted(k["component"] for k in result.kills) == sorted(chaos.COMPONENTS)
    assert not result.problems, result.report()
    restarts = result.figures["restarts"]
    assert all(restarts.get(c, 0) >= 1 for c in chaos.COMPONENTS), restarts
    # the checks had something to check: two KPI periods, notices produced and emailed
    assert len(result.figures["kpis_checked"]) == 2, result.figures
    notices = result.figures["notices"]
    assert notices["notices"] == notices["rent_changes"] > 0 and notices["emails_distinct"] == notices["emails_due"] > 0
