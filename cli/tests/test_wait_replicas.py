"""`rentflow wait` against services run as several replicas behind one URL (deploy/k8s runs two ledgers):
each answer comes from whichever replica the request reached, so what it counts must be the group's
(the database's), not the answering process's own counters."""
from __future__ import annotations

import itertools
from pathlib import Path

import pytest

import rentflow_common.kafka
from rentflow_cli.client import Client
from rentflow_cli.stack import SERVICES


class Replicas(Client):
    """Every service quiet and caught up; the ledger's status answered by two replicas in turn, each with
    the messages it handled itself since it started, and the group's progress as the database holds it."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))
        self._runtime = {"kafka": {"bootstrap_servers": "127.0.0.1:1"}}
        self._ledger = itertools.cycle([4_000, 6_000])

    def get(self, service: str, path: str, **kw):
        assert path == "/v1/ops/status"
        if service != "ledger":
            return {"outbox_backlog": 0, "consumers": {}}
        streams = [{"topic": "payments.received.v1", "stream": n, "processed": 2_500, "missing": 0} for n in range(4)]
        return {"outbox_backlog": 0, "consumers": {"ledger": {
            "messages": next(self._ledger), "dead_letters": 0, "missing": 0, "open_dead_letters": 0,
            "streams": streams}}}


@pytest.fixture
def nothing_lagging(monkeypatch):
    async def group_lag(*args, **kw):
        return {}
    monkeypatch.setattr(rentflow_common.kafka, "group_lag", group_lag)


def test_wait_returns_when_replicas_answering_in_turn_have_handled_different_shares(nothing_lagging):
    assert "ledger" in SERVICES
    Replicas().wait_until_processed(timeout=5)  # raised "still moving" at the timeout when counted per replica
