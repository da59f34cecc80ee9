"""The commands the consumers build from what they consume."""
from __future__ import annotations

import uuid

from rentflow_common.events import Cause, Msg
from rentflow_ledger.service_layer.commands import TakePayment


def test_take_payment_many_is_of_each_message():
    msgs = [Msg(object(), Cause(uuid.uuid4(), f"c{n}"), None) for n in range(3)]
    many = TakePayment.many(msgs)
    assert many == [TakePayment.of(m) for m in msgs] and TakePayment.many([]) == []
    assert all(type(c) is TakePayment for c in many)
    assert [(c.payment, c.cause) for c in many] == [(m.data, m.cause) for m in msgs]
