"""Several members of one consumer group in a process (the ledger's RENTFLOW_LEDGER_CONSUMERS): status,
health and metrics sum them into one entry per group (services/ledger/tests/integration/
test_status_members.py runs it with two real members)."""
from __future__ import annotations

import datetime as dt
import time
from types import SimpleNamespace

from prometheus_client import generate_latest

from rentflow_common.consumer import ConsumerStats
from rentflow_common.metrics import RuntimeCollector
from rentflow_common.service import (EXIT_STUCK, STUCK_AFTER_S, ServiceRuntime, _group_health, _stats,
                                     consumer_groups, stuck_for, stuck_past)

UTC = dt.timezone.utc


def member(group: str, **counts) -> SimpleNamespace:
    stats = ConsumerStats(**counts)
    stats.rate.add(stats.messages)
    fetch = SimpleNamespace(last_ok=time.monotonic(), failing_since=None, last_error=None)
    return SimpleNamespace(group_id=group, topics=["a.v1", "b.v1"], stats=stats, fetch_state=fetch,
                           oldest_batch_taken_at=lambda: None, reading=lambda: {})


def test_members_of_a_group_are_summed_and_other_groups_left_alone():
    one = member("g", batches=2, messages=5, duplicates=1, dead_letters=1, parked=0, contended=1, rewinds=0,
                 overlapped=4, overlap_given_up=1, per_topic={"a.v1": 5},
                 last_batch_at=dt.datetime(2026, 5, 1, 9, tzinfo=UTC))
    two = member("g", batches=3, messages=7, duplicates=0, dead_letters=2, parked=1, contended=0, rewinds=1,
                 overlapped=2, overlap_given_up=0, per_topic={"a.v1": 4, "b.v1": 3},
                 last_batch_at=dt.datetime(2026, 5, 1, 10, tzinfo=UTC))
    other = member("h", batches=1, messages=1, per_topic={"a.v1": 1})
    groups = consumer_groups([one, other, two])
    assert {g: len(m) for g, m in groups.items()} == {"g": 2, "h": 1}
    doc = _stats(groups["g"])
    assert doc == {"batches": 5, "messages": 12, "duplicates": 1, "dead_letters": 3, "parked": 1, "contended": 1,
                   "rewinds": 1, "overlapped": 6, "overlap_given_up": 1, "messages_per_s": 0.2,
                   "per_topic": {"a.v1": 9, "b.v1": 3},
                   "last_batch_at": "2026-05-01T10:00:00+00:00", "members": 2}
    assert one.stats.per_topic == {"a.v1": 5}  # the members' own counters untouched
    assert _stats(groups["h"])["messages"] == 1 and _stats(groups["h"])["members"] == 1


def test_a_group_is_healthy_only_if_every_member_is():
    well, failing = member("g", messages=4), member("g", messages=6, commit_failures=3, last_error="boom")
    states = [ServiceRuntime._consumer_health(None, c) for c in (well, failing)]  # type: ignore[arg-type]
    health = _group_health(states)
    assert health["ok"] is False and health["members"] == 2
    assert health["problem"] == "member 2 of 2: cannot commit offsets (boom)"
    assert health["messages"] == 10 and health["last_error"] == "boom"
    assert _group_health(states[:1]) == {**states[0], "members": 1}
    assert _group_health([states[0], states[0]])["ok"] is True


def test_metrics_give_each_group_one_series():
    members = [member("g", batches=2, messages=5, per_topic={"a.v1": 5}),
               member("g", batches=3, messages=7, per_topic={"a.v1": 4, "b.v1": 3})]
    runtime = SimpleNamespace(name="svc", ready=True, consumers=members, relay=None)
    text = generate_latest(RuntimeCollector(runtime).registry).decode()
    lines = [line for line in text.splitlines() if line.startswith("rentflow_consumer_")]
    assert len(lines) == len(set(line.rsplit(" ", 1)[0] for line in lines))
    assert 'rentflow_consumer_messages_total{group="g",service="svc",topic="a.v1"} 9.0' in lines
    assert 'rentflow_consumer_batches_total{group="g",service="svc"} 5.0' in lines


def test_a_member_that_neither_fetches_nor_writes_while_nothing_fails_is_stuck():
    """No fetch completed for over STUCK_AFTER_S, or a batch in hand that long, with no failure
    reported: stuck. A broker or database away is failing instead (reported, and retried)."""
    now = time.monotonic()
    quiet = member("g")
    quiet.fetch_state.last_ok = now - STUCK_AFTER_S - 5
    holding = member("g")
    holding.oldest_batch_taken_at = lambda: now - STUCK_AFTER_S - 8
    broker_away = member("g")
    broker_away.fetch_state.last_ok, broker_away.fetch_state.failing_since = now - 100, now - 90
    database_away = member("g", failing_since=now - 90)
    database_away.oldest_batch_taken_at = lambda: now - 100
    working = member("g")
    working.oldest_batch_taken_at = lambda: now - 2
    assert [round(stuck_for(m, now) or 0) for m in (quiet, holding, broker_away, database_away, working)] == [
        STUCK_AFTER_S + 5, STUCK_AFTER_S + 8, 0, 0, 0]
    health = ServiceRuntime._consumer_health(None, holding)  # type: ignore[arg-type]
    assert health["ok"] is False and health["problem"].startswith(f"stuck for {STUCK_AFTER_S + 8:.0f} s")


def test_only_a_consumer_stuck_for_the_limit_is_taken_for_ending_the_process():
    now = time.monotonic()
    stuck, working = member("g"), member("h")
    stuck.fetch_state.last_ok = now - 50
    assert stuck_past([working, stuck], now, 60) is None
    assert stuck_past([working, stuck], now, 45) == (stuck, 50)


async def test_the_watchdog_ends_the_process_of_a_stuck_consumer():
    """The watchdog ends the process (EXIT_STUCK) for its supervisor to start again; with
    RENTFLOW_STUCK_EXIT_S 0 it returns at once, leaving it to /health."""
    import asyncio

    exits: list[int] = []
    stuck = member("g")
    stuck.fetch_state.last_ok = time.monotonic() - STUCK_AFTER_S - 1
    runtime = SimpleNamespace(settings=SimpleNamespace(stuck_exit_s=0.2), ready=True, consumers=[member("h"), stuck],
                              exit_process=exits.append)
    await asyncio.wait_for(ServiceRuntime._watch_stuck(runtime), 5)  # type: ignore[arg-type]
    assert exits == [EXIT_STUCK] == [70]
    runtime.settings.stuck_exit_s = 0
    await asyncio.wait_for(ServiceRuntime._watch_stuck(runtime), 1)
    assert exits == [70]
