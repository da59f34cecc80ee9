import datetime as dt
import uuid

import pytest

from rentflow_notifications.domain import tasks

UTC = dt.timezone.utc


def test_task_id_is_derived_from_the_payment():
    pid = uuid.uuid4()
    assert tasks.unmatched_payment_task_id(pid) == tasks.unmatched_payment_task_id(pid)
    assert tasks.unmatched_payment_task_id(pid) != tasks.unmatched_payment_task_id(uuid.uuid4())


def test_reason_text():
    assert (tasks.unmatched_payment_reason(1234, "card", "XYZ", "no matching account")
            == "£12.34 card payment, reference 'XYZ', no matching account")
    assert (tasks.unmatched_payment_reason(123456, "bank_transfer", " ", "")
            == "£1,234.56 bank transfer payment, no reference, no matching account")
    assert tasks.format_pence(5) == "£0.05"


def test_due_on_uses_the_london_day():
    # 23:30 UTC on Thu 24 Dec 2026 is still the 24th in London (GMT); due Tue 5 Jan 2027.
    assert tasks.unmatched_payment_due_on(dt.datetime(2026, 12, 24, 23, 30, tzinfo=UTC)) == dt.date(2027, 1, 5)
    # Thu 25 Mar 2027 (before BST starts on the 28th), across Easter: due Mon 5 Apr.
    assert tasks.unmatched_payment_due_on(dt.datetime(2027, 3, 25, 10, tzinfo=UTC)) == dt.date(2027, 4, 5)
    # In summer time 23:30 UTC is the next London day: Fri 5 Jun 2026 23:30 UTC = Sat 6 Jun → Fri 12 Jun.
    assert tasks.unmatched_payment_due_on(dt.datetime(2026, 6, 5, 23, 30, tzinfo=UTC)) == dt.date(2026, 6, 12)


def test_claim_transitions():
    assert tasks.claim("open", "income-team", None, "Asha") == tasks.Transition("updated", "in_progress", "Asha")
    assert tasks.claim("in_progress", "Asha", "Asha", "Asha") is None
    with pytest.raises(tasks.TaskConflict, match="claimed by Asha"):
        tasks.claim("in_progress", "Asha", "Asha", "Ben")
    with pytest.raises(tasks.TaskConflict, match="done"):
        tasks.claim("done", "Asha", None, "Asha")


def test_complete_transitions():
    assert tasks.complete("open", "Asha", None, "Ben") == tasks.Transition("completed", "done", "Asha")
    assert tasks.complete("in_progress", "Asha", "Asha", "Asha").status == "done"
    with pytest.raises(tasks.TaskConflict):
        tasks.complete("done", "Asha", None, "Asha")
