"""Snapshots after consumer batches, throttled: a batch marks the figures dirty; at most once
per `interval` seconds the current month to date is snapshotted (stored, and emitted when its
content changed). Trailing edge: the last batch of a burst is always followed by a snapshot."""
from __future__ import annotations

import asyncio
import time
from typing import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger

from rentflow_reporting.domain.periods import to_date
from rentflow_reporting.service_layer.handlers import compute_snapshot, record_snapshot, today_london

log = get_logger(__name__)


class SnapshotScheduler:
    def __init__(self, engine: AsyncEngine, *, interval: float = 5.0, period: str = "month",
                 today: Callable = today_london) -> None:
        self._engine = engine
        self.interval = interval
        self.period = period
        self._today = today
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last = 0.0
        self.taken = 0

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
        async with UnitOfWork(self._engine) as uow:
            snapshot = await record_snapshot(uow, await compute_snapshot(uow, to_date(self.period, as_of), as_of))
            await uow.commit()
        self.taken += 1
        return snapshot

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._dirty.wait()
            if self._stopping.is_set():
                return
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=wait)
                    return
                except asyncio.TimeoutError:
                    pass
            self._dirty.clear()
            self._last = time.monotonic()
            try:
                await self.snapshot_now()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database away: try again on the next tick
                log.warning("kpi.snapshot_failed", error=str(exc))
                self._dirty.set()
