"""Direct Debit failure and mandate tasks: what the officer does by ARUDD reason code (docs/domain.md §3),
when it is due, and how a repeat failure folds into the open task. Pure.

The due periods are rentflow's policy (docs/domain.md gives none): two working days where something is
about to happen (a re-presentation, a dispute holding collections), one for a bereavement, five
otherwise; counted from the Europe/London day the ledger handled the return."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import NamedTuple

from rentflow_schemas import derive_event_id
from rentflow_schemas.bacs import ARUDD_REASONS, UNKNOWN_RETURN

from rentflow_notifications.domain.tasks import format_pence, london_date
from rentflow_notifications.domain.working_days import add_working_days

DD_FAILURE = "dd_failure"
MANDATE_CHANGE = "mandate_change"
DEDUPED_KINDS = (DD_FAILURE, MANDATE_CHANGE)  # one open task per account (or DD reference) and kind


class CodeRule(NamedTuple):
    todo: str  # what the officer does
    due_working_days: int
    letter: bool  # whether the payer gets a letter from rentflow
    plain_words: str  # what happened, for the payer


CODE_RULES: dict[str, CodeRule] = {
    "0": CodeRule("contact the tenant before the re-presentation; agree how to clear it if it fails again", 2, True,
                  "your bank did not pay it, usually because there was not enough money in the account "
                  "on the day"),
    "1": CodeRule("agree another way to pay (the Direct Debit was cancelled)", 5, True,
                  "your bank told us the Direct Debit instruction has been cancelled"),
    "2": CodeRule("start the tenancy and bereavement process (payer deceased); no letter was sent", 1, False, ""),
    "3": CodeRule("get a new Direct Debit instruction and send a new advance notice (account transferred)", 5, True,
                  "your bank told us your account has moved to another bank or building society, so the "
                  "Direct Debit instruction no longer works"),
    "4": CodeRule("resolve the advance notice dispute; collections are on hold", 2, True,
                  "your bank told us you disputed our advance notice, so we have stopped collecting by "
                  "Direct Debit until we have sorted it out with you"),
    "5": CodeRule("contact the tenant: the bank has no such account; agree a new mandate or another way to pay", 5,
                  True, "your bank told us there is no account with the details on the Direct Debit instruction"),
    "6": CodeRule("re-lodge the instruction after contacting the tenant (no instruction at the bank)", 5, True,
                  "your bank told us it holds no Direct Debit instruction from you for this payment"),
    "7": CodeRule("investigate: the amount differs from the advance notice", 5, True,
                  "your bank told us the amount was different from the amount we told you we would collect"),
    "8": CodeRule("investigate: the collection was not yet due", 5, True,
                  "your bank told us we asked for the payment before the date it was due"),
    "9": CodeRule("investigate: the presentation was overdue", 5, True,
                  "your bank told us we asked for the payment too late"),
    "A": CodeRule("investigate: the service user differs", 5, True,
                  "your bank told us the Direct Debit instruction names a different organisation"),
    "B": CodeRule("get a new mandate or agree another way to pay (account closed)", 5, True,
                  "your bank told us the account has been closed"),
}
assert set(CODE_RULES) == set(ARUDD_REASONS), "every code Bacs defines (rentflow_schemas.bacs) needs its rule"
# a return whose code intake did not recognise: the bank took the money back all the same
UNKNOWN_CODE_RULE = CodeRule("investigate the return: its code is not one rentflow knows (see the raw code on the "
                             "report); no letter was sent", 2, False, "")
UNKNOWN_REFERENCE_DUE_WORKING_DAYS = 2


def code_rule(code: str) -> CodeRule:
    if code == UNKNOWN_RETURN:
        return UNKNOWN_CODE_RULE
    try:
        return CODE_RULES[code]
    except KeyError:
        raise ValueError(f"unknown ARUDD return code {code!r}; known: {', '.join(CODE_RULES)}") from None


def dedupe_key(kind: str, account_ref: str | None, reference: str) -> str:
    """Open tasks are unique per key: the account, or the DD reference when no account has it."""
    return f"{kind}:account:{account_ref}" if account_ref else f"{kind}:reference:{reference}"


def task_id_for(kind: str, source_id: uuid.UUID) -> uuid.UUID:
    """A new task takes its id from the input that opened it."""
    return derive_event_id("task", kind, source_id)


@dataclass(frozen=True)
class Failure:
    """What a task needs from a DdFailure."""
    failure_id: uuid.UUID
    account_ref: str | None
    reference: str
    amount_pence: int
    return_code: str
    meaning: str
    occurred_at: dt.datetime
    represent_on: dt.date | None = None  # when the letter offers a re-presentation


def dd_failure_due_on(f: Failure) -> dt.date:
    days = code_rule(f.return_code).due_working_days if f.account_ref else UNKNOWN_REFERENCE_DUE_WORKING_DAYS
    return add_working_days(london_date(f.occurred_at), days)


def dd_failure_reason(f: Failure, occurrences: int) -> str:
    head = (f"{format_pence(f.amount_pence)} Direct Debit returned unpaid, code {f.return_code} "
            f"({f.meaning})")
    if not f.account_ref:
        todo = f"find the account: no rent account has DD reference '{f.reference}'"
    else:
        todo = code_rule(f.return_code).todo
        if f.return_code == "0":
            todo += (f"; re-presentation on {f.represent_on} (payer told by letter)" if f.represent_on
                     else "; too late to re-present: ask the tenant to pay another way")
    repeat = f"; {occurrences} failures while this task was open" if occurrences > 1 else ""
    return f"{head}: {todo}{repeat}"


@dataclass(frozen=True)
class TaskState:
    """The parts of a deduplicated task that inputs change."""
    task_id: uuid.UUID
    kind: str
    dedupe_key: str
    account_ref: str | None
    reference: str
    assigned_to: str
    status: str
    due_on: dt.date
    reason: str
    occurrences: int
    amount_pence: int | None
    return_code: str | None


def open_dd_failure_task(f: Failure, assigned_to: str) -> TaskState:
    return TaskState(task_id_for(DD_FAILURE, f.failure_id), DD_FAILURE, dedupe_key(DD_FAILURE, f.account_ref, f.reference),
                     f.account_ref, f.reference, assigned_to, "open", dd_failure_due_on(f), dd_failure_reason(f, 1), 1,
                     f.amount_pence, f.return_code)


def repeat_dd_failure(task: TaskState, f: Failure) -> TaskState:
    """A further failure on an open task: counted, latest amount and code, the earlier due date kept
    (a repeat makes it no less urgent); owner and status unchanged."""
    n = task.occurrences + 1
    return replace(task, occurrences=n, amount_pence=f.amount_pence, return_code=f.return_code,
                   reason=dd_failure_reason(f, n), due_on=min(task.due_on, dd_failure_due_on(f)))


# --- mandates ------------------------------------------------------------------------------

MANDATE_DUE_WORKING_DAYS = 5
_MANDATE_TODO = {
    "cancelled": "agree another way to pay, or a new mandate",
    "suspended": "get a new Direct Debit instruction and send a new advance notice",
    "held": "resolve the dispute before collecting again",
    "pending": "lodge the new instruction (0N) with the new bank details and send a new advance notice",
    "live": "check the mandate",
}


@dataclass(frozen=True)
class MandateInput:
    instruction_id: uuid.UUID
    account_ref: str | None
    reference: str
    new_state: str
    reason_code: str
    description: str
    occurred_at: dt.datetime


def mandate_reason(m: MandateInput, occurrences: int) -> str:
    todo = _MANDATE_TODO.get(m.new_state, "check the mandate")
    if not m.account_ref:
        todo = f"find the account: no single rent account has DD reference '{m.reference}'; then {todo}"
    repeat = f"; {occurrences} mandate changes while this task was open" if occurrences > 1 else ""
    return f"Direct Debit mandate {m.new_state} ({m.description}, code {m.reason_code}): {todo}{repeat}"


def open_mandate_task(m: MandateInput, assigned_to: str) -> TaskState:
    due = add_working_days(london_date(m.occurred_at), MANDATE_DUE_WORKING_DAYS)
    return TaskState(task_id_for(MANDATE_CHANGE, m.instruction_id), MANDATE_CHANGE,
                     dedupe_key(MANDATE_CHANGE, m.account_ref, m.reference), m.account_ref, m.reference, assigned_to,
                     "open", due, mandate_reason(m, 1), 1, None, m.reason_code)


def repeat_mandate(task: TaskState, m: MandateInput) -> TaskState:
    n = task.occurrences + 1
    return replace(task, occurrences=n, return_code=m.reason_code, reason=mandate_reason(m, n))
