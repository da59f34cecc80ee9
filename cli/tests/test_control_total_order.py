"""`rentflow payments reconcile` (and `rentflow wait`) read three services one after the other while
payments flow: a payment that moves on between two reads may only look not there yet downstream, never
unknown to intake or counted by reporting beyond the ledger."""
from __future__ import annotations

import uuid

from rentflow_cli.cmd_ops import control_total

DAY, CHANNEL = "2026-10-05", "card"


class LiveStack:
    """The services' control-total routes while payments flow: before each request is answered, one
    more payment has been accepted, posted and counted (a fast ledger between two requests)."""

    def __init__(self) -> None:
        self.paid: list[str] = []

    def get(self, service: str, path: str, params: dict | None = None) -> dict:
        assert path == "/v1/control-totals"
        self.paid.append(str(uuid.uuid4()))
        if params and "channel" in params:
            return {"items": [[p, 100] for p in self.paid]}
        group = {"day": DAY, "channel": CHANNEL, "count": len(self.paid), "pence": 100 * len(self.paid)}
        return {"groups": [{**group, "lumps": 0, "doubled": []} if service == "ledger" else group]}


def test_a_payment_moving_on_during_the_reads_is_never_unknown_nor_counted_twice():
    result = control_total(LiveStack())
    assert (result["unknown"], result["doubled"], result["amounts_differ"]) == ([], [], [])
    (group,) = result["groups"]
    assert group["reporting_count"] <= group["ledger_count"] <= group["accepted_count"]
    assert result["missing"]  # what intake took meanwhile: not in the ledger's answer yet
