"""Closed periods send postings to the next open period; the consumer splits mixed batches."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from rentflow_common.consumer import dispatch
from rentflow_ledger.domain.periods import PeriodCalendar, next_period
from rentflow_ledger.entrypoints import consumers


def test_next_open_period():
    assert next_period("2026-12") == "2027-01" and next_period("2026-04") == "2026-05"
    cal = PeriodCalendar(frozenset({"2026-04", "2026-05", "2026-12"}))
    assert cal.posting_period(dt.date(2026, 4, 28)) == "2026-06"
    assert cal.override(dt.date(2026, 4, 28)) == "2026-06"
    assert cal.override(dt.date(2026, 6, 1)) is None
    assert cal.posting_period(dt.date(2026, 12, 31)) == "2027-01"
    assert PeriodCalendar().override(dt.date(2026, 4, 1)) is None


async def test_mixed_batch_goes_to_each_handler_payments_first():
    calls = []

    def fake(name):
        async def handler(uow, items):
            calls.append((name, [i.offset for i in items]))
        return handler
    handlers = {t: fake(t) for t in consumers.handlers(None)}  # the ledger's topics, in its order
    items = [SimpleNamespace(topic=t, offset=n) for n, t in enumerate(
        ["directdebit.returned.v1", "payments.received.v1", "directdebit.mandates.v1", "payments.received.v1"])]
    await dispatch(handlers, None, [(i.topic, i) for i in items])
    assert calls == [("payments.received.v1", [1, 3]), ("directdebit.returned.v1", [0]),
                     ("directdebit.mandates.v1", [2])]
    calls.clear()
    await dispatch(handlers, None, [(i.topic, i) for i in items[1:2]])
    assert calls == [("payments.received.v1", [1])]

