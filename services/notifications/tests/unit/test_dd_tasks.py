"""DD failure tasks: what the officer is told by code, when it is due, and repeats folded in."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rentflow_notifications.domain import dd_tasks as d

UTC = dt.timezone.utc


def failure(code: str = "0", amount: int = 12345, account: str | None = "10000001", *,
            at: dt.datetime = dt.datetime(2026, 12, 23, 15, tzinfo=UTC), represent_on: dt.date | None = None):
    return d.Failure(uuid.uuid4(), account, "RF10000001", amount, code, MEANINGS[code], at, represent_on)


MEANINGS = {"0": "refer to payer (usually insufficient funds)", "1": "instruction cancelled", "2": "payer deceased",
            "unknown": "return reason not recognised (see the raw code)"}


def test_every_arudd_code_has_a_rule_and_only_deceased_sends_no_letter():
    assert set(d.CODE_RULES) == set("0123456789AB")
    assert [c for c, r in d.CODE_RULES.items() if not r.letter] == ["2"]
    with pytest.raises(ValueError, match="unknown ARUDD return code 'Z'"):
        d.code_rule("Z")


def test_due_dates_by_code_in_working_days_over_christmas():
    # Wed 23 Dec 2026 (London): +1 Thu 24; +2 Tue 29 (25, 28 Dec are bank holidays); +5 Mon 4 Jan 2027.
    assert d.dd_failure_due_on(failure("2")) == dt.date(2026, 12, 24)
    assert d.dd_failure_due_on(failure("0")) == dt.date(2026, 12, 29)
    assert d.dd_failure_due_on(failure("1")) == dt.date(2027, 1, 4)
    assert d.dd_failure_due_on(failure("1", account=None)) == dt.date(2026, 12, 29)  # unknown reference: 2 days
    # 23:30 UTC on 31 March 2027 is already 1 April in London (BST)
    late = failure("0", at=dt.datetime(2027, 3, 31, 23, 30, tzinfo=UTC))
    assert d.dd_failure_due_on(late) == dt.date(2027, 4, 5)  # Thu 1 Apr → Fri 2 (1), Mon 5 (2)


def test_reason_states_amount_code_todo_and_the_representation():
    f = failure("0", represent_on=dt.date(2027, 1, 6))
    task = d.open_dd_failure_task(f, "Asha")
    assert task.reason == ("£123.45 Direct Debit returned unpaid, code 0 (refer to payer (usually insufficient "
                           "funds)): contact the tenant before the re-presentation; agree how to clear it if it fails "
                           "again; re-presentation on 2027-01-06 (payer told by letter)")
    assert "too late to re-present" in d.open_dd_failure_task(failure("0"), "Asha").reason
    unknown = d.open_dd_failure_task(failure("1", account=None), "income-team")
    assert "no rent account has DD reference 'RF10000001'" in unknown.reason
    assert unknown.dedupe_key == "dd_failure:reference:RF10000001"


def test_a_return_with_a_code_nobody_knows_is_still_a_task_never_lost():
    """Issue 11: an ARUDD code rentflow does not recognise reaches the ledger as `unknown` (the money
    was taken back all the same): the officer gets a task to investigate it, due in 2 working days,
    and no letter goes to the payer."""
    task = d.open_dd_failure_task(failure("unknown"), "Asha")
    assert task.kind == "dd_failure" and task.return_code == "unknown" and task.status == "open"
    assert "investigate the return: its code is not one rentflow knows" in task.reason
    assert task.due_on == dt.date(2026, 12, 29)
    assert not d.code_rule("unknown").letter


def test_a_repeat_counts_on_the_open_task_with_the_latest_amount_and_code():
    first = d.open_dd_failure_task(failure("0", 12345), "Asha")
    assert (first.occurrences, first.task_id) == (1, first.task_id)
    second = d.repeat_dd_failure(first, failure("1", 6000, at=dt.datetime(2027, 1, 20, 9, tzinfo=UTC)))
    assert (second.task_id, second.assigned_to, second.status) == (first.task_id, "Asha", "open")
    assert (second.occurrences, second.amount_pence, second.return_code) == (2, 6000, "1")
    assert second.due_on == first.due_on  # the earlier due date stays
    assert second.reason.startswith("£60.00 Direct Debit returned unpaid, code 1 (instruction cancelled)")
    assert second.reason.endswith("; 2 failures while this task was open")
    third = d.repeat_dd_failure(second, failure("2", 6000, at=dt.datetime(2026, 12, 23, 8, tzinfo=UTC)))
    assert third.occurrences == 3 and third.due_on == dt.date(2026, 12, 24)  # deceased: one working day


def test_mandate_tasks_say_what_to_do_by_new_state():
    m = d.MandateInput(uuid.uuid4(), "10000001", "RF10000001", "pending", "3", "transferred to a new bank",
                       dt.datetime(2027, 3, 25, 10, tzinfo=UTC))
    task = d.open_mandate_task(m, "Ben")
    assert task.kind == "mandate_change" and task.dedupe_key == "mandate_change:account:10000001"
    assert "lodge the new instruction (0N)" in task.reason
    assert task.due_on == dt.date(2027, 4, 5)  # Thu 25 Mar + 5: [26 GF, 29 EM] 30, 31, 1, 2, 5 April
