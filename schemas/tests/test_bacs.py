"""The one table of Bacs codes agrees with the events that carry them."""
from typing import get_args

from rentflow_schemas import bacs
from rentflow_schemas.directdebit import MandateInstruction, MandateState, ReturnCode


def test_every_return_code_an_event_may_carry_has_a_reason():
    assert set(get_args(ReturnCode)) == set(bacs.ARUDD_REASONS) | {bacs.UNKNOWN_RETURN}
    for code in get_args(ReturnCode):
        reason = bacs.return_reason(code)
        assert reason.mandate_state in get_args(MandateState) and reason.meaning and reason.action
    assert {r.return_code for r in bacs.DDICA_REASONS.values()} <= set(bacs.ARUDD_REASONS)


def test_every_advice_action_is_an_event_action_with_an_effect_on_the_mandate():
    event_actions = set(get_args(MandateInstruction.model_fields["action"].annotation))
    assert set(bacs.MANDATE_ACTIONS) == event_actions
    advised = {r.action for t in (bacs.ADDACS_REASONS, bacs.AUDDIS_REASONS, bacs.INSTRUCTIONS) for r in t.values()}
    assert advised | {bacs.UNKNOWN_ADVICE_ACTION, bacs.UNKNOWN_AUDDIS_ACTION, bacs.LODGEMENT_ACCEPTED,
                      bacs.LODGEMENT_REJECTED} == event_actions
    assert all(e.state in get_args(MandateState) for e in bacs.MANDATE_ACTIONS.values())


def test_return_codes_as_reports_send_them():
    assert [bacs.normalise_return_code(c) for c in ("0128", "1012", "F21", "01", "B", "Z999")] == [
        "0", "1", "1", "1", "B", None]
    assert bacs.normalise_return_code("", "ACCOUNT  CLOSED") == "B"
