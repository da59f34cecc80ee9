"""The ledger state row and what is cached from it: the set of known references (every rung of
a receipts batch's allocation ladder) and the closed periods.

A batch reads the row FOR SHARE (consumers never block each other; closing a period, which
updates the row, waits for batches in flight and they for it), so no posting lands in a period
closed while it ran. The reference index is loaded once per (database token, generation) and
kept in memory; an account import that creates or changes references bumps the generation in
its own transaction, so the next batch reloads."""
from __future__ import annotations

import uuid
from typing import Any

from rentflow_ledger.domain.allocation import ReferenceIndex
from rentflow_ledger.domain.periods import PeriodCalendar

_INDEX: dict[uuid.UUID, tuple[int, ReferenceIndex]] = {}


class State:
    __slots__ = ("token", "generation", "calendar")

    def __init__(self, token: uuid.UUID, generation: int, closed: list[str]) -> None:
        self.token, self.generation = token, generation
        self.calendar = PeriodCalendar(frozenset(closed))


async def read_state(raw: Any, *, lock: bool = True) -> State:
    row = await raw.fetchrow("select token, generation, closed_periods from ledger_state where id = 1"
                             + (" for share" if lock else ""))
    return State(row["token"], row["generation"], list(row["closed_periods"]))


async def reference_index(raw: Any, state: State) -> ReferenceIndex:
    cached = _INDEX.get(state.token)
    if cached is not None and cached[0] == state.generation:
        return cached[1]
    rows = await raw.fetch("select account_ref, dd_reference, so_reference from accounts")
    index = ReferenceIndex.build((r[0], r[1], r[2]) for r in rows)
    _INDEX[state.token] = (state.generation, index)
    return index


async def bump_generation(raw: Any) -> None:
    await raw.execute("update ledger_state set generation = generation + 1 where id = 1")
