"""Adjustments, refunds, write-offs and transfers under maker-checker (DESIGN.md: an approver
other than the requester; DOMAIN.md §2 codes and write-off reasons, §6 journals).

A request posts nothing. Approval posts, with these codes and journals:
- adjustment: `WON` (write-on) of the signed amount on the account — positive raises the
  balance, negative is a credit adjustment (a write-on reversed; DOMAIN.md has no separate
  credit-adjustment code and `RIT` means a transfer between accounts). Journal Dr debtors
  control Cr INCOME_ADJUSTMENTS (sides swapped for a credit).
- refund: `REF`, positive (it takes the credit balance back towards zero), at most the credit
  balance at approval. Journal Dr debtors control Cr bank.
- write_off: `WOF`, negative, at most the arrears at approval, with a reason from DOMAIN.md's
  list. Journal Dr BAD_DEBT_PROVISION Cr debtors control.
- transfer: `RIT` on both accounts: the signed amount of balance leaves `account_ref` (−amount)
  and arrives on `to_account_ref` (+amount); journal Dr/Cr debtors control on the two accounts,
  netting to nil in the GL."""
from __future__ import annotations

import re
from typing import NamedTuple

from rentflow_ledger.domain.codes import REFUND_CODE, TRANSFER_CODE, WRITE_OFF_CODE, WRITE_ON_CODE
from rentflow_ledger.domain.journal import (Line, adjustment_lines, refund_lines, transfer_lines,
                                            write_off_lines)

TYPES = ("adjustment", "refund", "write_off", "transfer")
# DOMAIN.md §2: write-off reasons in a widely deployed UK housing system.
WRITE_OFF_REASONS = ("uneconomical to pursue", "vulnerable/infirm", "deceased", "address unknown",
                     "dispute unresolved", "all action failed", "former tenant in prison")


class Refused(ValueError):
    """The request or approval breaks a rule; `status` is the HTTP status that says so."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.status = status


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.strip().lower())


def write_off_reason(reason: str) -> str:
    """The listed reason a write-off's reason text starts with ('Deceased: estate has no funds' →
    'deceased'); Refused (422) naming the list otherwise."""
    head = _norm(reason.split(":", 1)[0])
    for listed in WRITE_OFF_REASONS:
        if head == _norm(listed):
            return listed
    raise Refused(f"reason: a write-off needs one of {', '.join(WRITE_OFF_REASONS)} "
                  f"(optionally followed by ': details'), got {reason!r}", 422)


def validate_request(type_: str, amount: int, account_ref: str, to_account_ref: str | None, reason: str) -> None:
    if type_ not in TYPES:
        raise Refused(f"type: must be one of {', '.join(TYPES)}, got {type_!r}", 422)
    if amount == 0:
        raise Refused("amount_pence: must not be 0", 422)
    if type_ in ("refund", "write_off") and amount < 0:
        raise Refused(f"amount_pence: a {type_} is a positive amount, got {amount}", 422)
    if type_ == "transfer":
        if not to_account_ref:
            raise Refused("to_account_ref: required for a transfer", 422)
        if to_account_ref == account_ref:
            raise Refused("to_account_ref: a transfer needs two different accounts", 422)
    elif to_account_ref:
        raise Refused(f"to_account_ref: only for a transfer, not a {type_}", 422)
    if not reason.strip():
        raise Refused("reason: required", 422)
    if type_ == "write_off":
        write_off_reason(reason)


def check_balance(type_: str, amount: int, balance: int) -> None:
    """A refund never exceeds the credit balance; a write-off never exceeds the arrears."""
    if type_ == "refund" and amount > -balance:
        raise Refused(f"refund of {amount} pence exceeds the credit balance of {max(0, -balance)} pence "
                      f"(balance {balance})")
    if type_ == "write_off" and amount > balance:
        raise Refused(f"write-off of {amount} pence exceeds the arrears of {max(0, balance)} pence "
                      f"(balance {balance})")


def check_approver(requested_by: str, approver: str, role: str | None) -> None:
    if _norm(approver) == _norm(requested_by):
        raise Refused(f"{approver!r} requested this; an approver other than the requester must approve it", 403)
    if role != "manager":
        raise Refused(f"{approver!r} is not a manager (register managers with POST /v1/approvers)", 403)


class Leg(NamedTuple):
    account_ref: str
    code: str
    amount: int  # signed effect on the account's balance


def plan(type_: str, amount: int, account_ref: str, to_account_ref: str | None) -> tuple[list[Leg], list[Line]]:
    """The postings and the journal lines an approved request makes."""
    if type_ == "adjustment":
        return [Leg(account_ref, WRITE_ON_CODE, amount)], adjustment_lines(account_ref, amount)
    if type_ == "refund":
        return [Leg(account_ref, REFUND_CODE, amount)], refund_lines(account_ref, amount)
    if type_ == "write_off":
        return [Leg(account_ref, WRITE_OFF_CODE, -amount)], write_off_lines(account_ref, amount)
    if type_ == "transfer":
        assert to_account_ref
        return ([Leg(account_ref, TRANSFER_CODE, -amount), Leg(to_account_ref, TRANSFER_CODE, amount)],
                transfer_lines(account_ref, to_account_ref, amount))
    raise Refused(f"type: unknown {type_!r}", 422)
