"""The DD reason tables and the DdFailure / MandateChanged payloads."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import TypeAdapter

from rentflow_ledger.domain.directdebit import (MANDATE_ACTIONS, RETURN_REASONS, add_month, mandate_change,
                                                normalise_return_code, represent_by)
from rentflow_common.events import Cause, Emitter
from rentflow_ledger.service_layer import events
from rentflow_schemas import Envelope, topic_spec
from rentflow_schemas.directdebit import MandateInstruction, ReturnCode

NOW = dt.datetime(2026, 5, 8, 9, tzinfo=dt.timezone.utc)


def test_every_return_code_has_a_reason_and_codes_normalise():
    assert set(RETURN_REASONS) == set(ReturnCode.__args__)
    assert normalise_return_code("F21") == "1" and normalise_return_code(" b ") == "B"
    with pytest.raises(ValueError):
        normalise_return_code("Z")
    assert [c for c, r in RETURN_REASONS.items() if r.may_represent] == ["0"]
    assert {c for c, r in RETURN_REASONS.items() if r.mandate_state == "cancelled"} == {"1", "2", "5", "6", "B"}


def test_represent_by_one_month_code_0_only():
    assert represent_by("0", dt.date(2026, 1, 31)) == dt.date(2026, 2, 28)
    assert represent_by("1", dt.date(2026, 1, 31)) is None
    assert add_month(dt.date(2026, 12, 15)) == dt.date(2027, 1, 15)


def test_mandate_actions_cover_the_schema_and_say_who_acts():
    assert set(MANDATE_ACTIONS) == set(MandateInstruction.model_fields["action"].annotation.__args__)
    needs = {a for a, (_, person) in MANDATE_ACTIONS.items() if person}
    assert {"cancelled", "deceased", "transferred", "closed", "disputed"} <= needs
    assert mandate_change("reinstated") == ("live", False)


def _valid(row):
    spec = topic_spec(row.topic)
    return TypeAdapter(Envelope[spec.model]).validate_json(row.payload)


def _emitted(emit, *args):
    uow = Emitter("ledger")
    emit(uow, *args)
    return uow.emitted[-1]


def test_payloads_validate():
    rid = uuid.uuid4()
    env = _valid(_emitted(events.dd_failure, {
        "failure_id": uuid.uuid4(), "return_id": rid, "account_ref": None, "reference": "X", "amount_pence": 5,
        "return_code": "0", "meaning": "m", "action": "a", "mandate_state": "live", "may_represent": False,
        "represent_by": None, "original_processing_date": dt.date(2026, 5, 1), "reversal_transaction_id": None,
        "payer_name": None, "occurred_at": NOW}, Cause(None, "c")))
    assert env.data.return_id == rid
    env = _valid(_emitted(events.mandate_changed, {
        "account_ref": "A", "reference": "X", "old_state": None, "new_state": "held", "reason_code": "D",
        "description": "d", "needs_person": True, "effective_date": None, "instruction_id": rid,
        "occurred_at": NOW}, "k", Cause(None, "c")))
    assert env.data.needs_person
