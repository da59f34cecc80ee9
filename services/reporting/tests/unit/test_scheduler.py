"""The throttled KPI snapshot: at most once per interval, and spaced by how long a snapshot takes."""
from __future__ import annotations

import asyncio
import time

from rentflow_reporting.service_layer.scheduler import SnapshotScheduler


async def _taken_while_dirty(scheduler: SnapshotScheduler, took: float, seconds: float) -> list[float]:
    """When each snapshot started, marking the figures dirty all along (a busy consumer)."""
    starts: list[float] = []

    async def snapshot_now() -> dict:
        starts.append(time.monotonic())
        await asyncio.sleep(took)  # what the database takes for it
        return {}

    async def no_period_ends(today=None) -> list:
        return []

    scheduler.snapshot_now = snapshot_now  # type: ignore[method-assign]
    scheduler.snapshot_period_ends = no_period_ends  # type: ignore[method-assign]
    scheduler.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        scheduler.mark_dirty()
        await asyncio.sleep(0.005)
    await scheduler.stop()
    return starts


async def test_a_quick_snapshot_is_taken_once_per_interval():
    starts = await _taken_while_dirty(SnapshotScheduler(lambda: None, interval=0.1), took=0.001, seconds=1.0)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert 6 <= len(starts) <= 11 and min(gaps) >= 0.095, gaps


async def test_a_slow_snapshot_keeps_to_its_share_of_the_time():
    """0.05 s a snapshot, 5% at most: one a second at the most, though the interval says ten."""
    scheduler = SnapshotScheduler(lambda: None, interval=0.1, max_share=0.05)
    starts = await _taken_while_dirty(scheduler, took=0.05, seconds=2.5)
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert 2 <= len(starts) <= 3 and min(gaps) >= 0.95, gaps
    assert scheduler.last_took >= 0.05
