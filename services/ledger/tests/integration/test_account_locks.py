"""Transactions moving overlapping accounts at once (members of the ledger group), on real PostgreSQL:
a later one waits for the earlier's row locks, then adds to the balances it committed and reports them
as its balances before (the locking statement's re-check after a wait: `move_for_receipts` joins the
references since 13c68e9); three batches with their references in different orders finish without a
deadlock."""
from __future__ import annotations

import asyncio
import datetime as dt
import random

from ledger_support import CSV, running_ledger
from rentflow_common.db import UnitOfWork
from rentflow_ledger.adapters.sql import SqlAccounts

UTC = dt.timezone.utc
REFS = [f"7{n:07d}" for n in range(1, 41)]
ACCOUNTS = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n" + \
    "".join(f"{r},T{n},{n} C St,N,2026-04-06,9000,0\n" for n, r in enumerate(REFS, 1))


async def test_overlapping_moves_wait_then_build_on_each_other(infra, service_env, topic_prefix):
    async with running_ledger(infra, topic_prefix, consumers=False) as ledger:
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        first = {r: -100 for r in REFS[:30]}
        second = {r: -7 for r in reversed(REFS[10:])}  # overlaps the first's last 20, given in reverse
        third = {r: -1 for r in random.Random(5).sample(REFS, len(REFS))}  # every account, shuffled, beside the second
        at = dt.datetime(2026, 5, 4, 9, tzinfo=UTC)
        holding, released = asyncio.Event(), asyncio.Event()

        async def move(deltas, hold: bool = False):
            async with UnitOfWork(ledger.engine) as uow:
                result = await SqlAccounts(uow.raw).move_for_receipts(deltas, at)
                if hold:
                    holding.set()
                    await released.wait()
                await uow.commit()
                return result

        one = asyncio.create_task(move(first, hold=True))
        await holding.wait()
        two, three = asyncio.create_task(move(second)), asyncio.create_task(move(third))
        await asyncio.sleep(0.5)
        assert not two.done() and not three.done()  # waiting for the first's locks
        released.set()
        (before_one, _), (before_two, _), (before_three, _) = await asyncio.gather(one, two, three)
        balances = {r: (await ledger.account(r))["balance_pence"] for r in REFS}

    assert before_one == {r: 0 for r in first}
    # the later of two and three saw the earlier's balances; each saw the first's
    if before_two[REFS[35]] == -1:  # three committed before two
        assert before_three == {r: (-100 if r in first else 0) for r in REFS}
        assert before_two == {r: (-100 if r in first else 0) - 1 for r in second}
    else:
        assert before_two == {r: (-100 if r in first else 0) for r in second}
        assert before_three == {r: (-100 if r in first else 0) + (-7 if r in second else 0) for r in REFS}
    assert balances == {r: first.get(r, 0) + second.get(r, 0) + third[r] for r in REFS}
