"""Snapshots taken without being asked.

- After consumer batches, throttled: a batch marks the figures dirty; at most once per
  `interval` seconds the current month to date is snapshotted (stored, and emitted when its
  content changed). Trailing edge: the last batch of a burst is always followed by a snapshot.
  A snapshot reads every account, so it takes longer as accounts grow (and on a busy machine):
  the next waits at least `1 / max_share` times as long as the last took, so snapshots keep to
  about that share of the time however many accounts there are.
- At each period end: once the Europe/London date has passed the last day of a week, month,
  quarter or year that has data, that period's complete snapshot is taken once (recorded in
  period_end_snapshots, so a restart does not take it again). Checked at start, after
  batches and every `period_check_s` seconds."""
from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Callable

from rentflow_common.db import UnitOfWork, as_of_one_moment
from rentflow_common.logging import get_logger

from rentflow_reporting.adapters import repository as repo
from rentflow_reporting.domain.periods import PERIOD_KINDS, ONE_DAY, Selection, latest_ended, to_date
from rentflow_reporting.service_layer.handlers import compute_snapshot, record_snapshot, today_london

log = get_logger(__name__)


class SnapshotScheduler:
    def __init__(self, uow: Callable[[], UnitOfWork], *, interval: float = 5.0, period: str = "month",
                 today: Callable = today_london, period_check_s: float = 60.0, max_share: float = 0.05) -> None:
        self._uow = uow
        self.interval = interval
        self.max_share = max_share
        self.last_took = 0.0  # seconds the last throttled snapshot took
        self.period = period
        self._today = today
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self.taken = 0
        self.period_check_s = period_check_s
        self._checked_on: dt.date | None = None

    def mark_dirty(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="reporting-kpi-snapshots")

    async def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def snapshot_now(self) -> dict:
        as_of = self._today()
        async with self._uow() as reader:  # its figures as of one moment (handlers.read_kpis)
            await as_of_one_moment(reader.raw)
            computed = await compute_snapshot(reader, to_date(self.period, as_of), as_of)
        async with self._uow() as uow:
            snapshot = await record_snapshot(uow, computed)
            await uow.commit()
        self.taken += 1
        return snapshot

    async def snapshot_period_ends(self, today: dt.date | None = None) -> list[dict]:
        """The complete snapshot of every kind of period that ended before `today` (default: today,
        Europe/London) and has data, unless already taken. Returns those taken now."""
        today = today or self._today()
        taken = []
        due = []
        async with self._uow() as reader:  # the periods due and their figures, as of one moment
            await as_of_one_moment(reader.raw)
            first = await repo.first_activity(reader.raw)
            for kind in PERIOD_KINDS:
                period = latest_ended(kind, today - ONE_DAY)
                if first is None or first > period.end or await repo.period_end_taken(reader.raw, kind, period.start):
                    continue
                due.append((kind, period, await compute_snapshot(reader, Selection(period, period.end, True),
                                                                 period.end)))
        async with self._uow() as uow:
            for kind, period, computed in due:
                snapshot = await record_snapshot(uow, computed)
                if await repo.mark_period_end(uow.raw, kind, period.start, snapshot["snapshot_id"],
                                              snapshot["taken_at"]):
                    taken.append(snapshot)
            await uow.commit()
        for s in taken:
            log.info("kpi.period_end_snapshot", period=s["period"], period_start=str(s["period_start"]),
                     snapshot_id=str(s["snapshot_id"]))
        return taken

    async def _check_period_ends(self) -> None:
        today = self._today()
        if self._checked_on == today and not self._dirty.is_set():
            return
        try:
            await self.snapshot_period_ends(today)
            self._checked_on = today
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # database away: the next check tries again
            log.warning("kpi.period_end_snapshot_failed", error=str(exc))

    async def _run(self) -> None:
        await self._check_period_ends()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._dirty.wait(), timeout=self.period_check_s)
            except asyncio.TimeoutError:
                await self._check_period_ends()
                continue
            if self._stopping.is_set():
                return
            wait = self._last + max(self.interval, self.last_took / self.max_share) - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
                    return
                except asyncio.TimeoutError:
                    pass
            await self._check_period_ends()  # data may have reached back into a period just ended
            self._dirty.clear()
            self._last = time.monotonic()
            try:
                await self.snapshot_now()
                self.last_took = time.monotonic() - self._last
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: try again on the next tick
                log.warning("kpi.snapshot_failed", error=str(exc))
                self._dirty.set()
