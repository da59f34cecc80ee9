"""Adjustments, refunds, write-offs and transfers under maker-checker (docs/design.md: an approver
other than the requester; docs/domain.md §2 codes and write-off reasons, §6 journals).

A request posts nothing. Approval posts, with these codes and journals:
- adjustment: `WON` (write-on) of the signed amount on the account — positive raises the
  balance, negative is a credit adjustment (a write-on reversed; docs/domain.md has no separate
  credit-adjustment code and `RIT` means a transfer between accounts). Journal Dr debtors
  control Cr INCOME_ADJUSTMENTS (sides swapped for a credit).
- refund: `REF`, positive (it takes the credit balance back towards zero), at most the credit
  balance at approval. Journal Dr debtors control Cr bank.
- write_off: `WOF`, negative, at most the arrears at approval, with a reason from docs/domain.md's
  list. Journal Dr BAD_DEBT_PROVISION Cr debtors control.
- transfer: `RIT` on both accounts. A transfer says what moves: debt (arrears) or credit, a
  positive amount, never more than the source account holds of it (`transfer_leaving`). It is
  stored as the signed amount of balance that leaves `account_ref` (positive when debt moves,
  negative when credit moves) and arrives on `to_account_ref`: moving £100 of credit from A to B
  leaves A £100 less in credit and B £100 more. Journal Dr/Cr debtors control on the two
  accounts, netting to nil in the GL."""
from __future__ import annotations

import re
from typing import NamedTuple

from rentflow_common.money import balance_words, pounds
from rentflow_ledger.domain.codes import REFUND_CODE, TRANSFER_CODE, WRITE_OFF_CODE, WRITE_ON_CODE
from rentflow_ledger.domain.journal import (Line, adjustment_lines, refund_lines, transfer_lines,
                                            write_off_lines)

TYPES = ("adjustment", "refund", "write_off", "transfer")
MOVES = ("debt", "credit")  # what a transfer moves
# docs/domain.md §2: write-off reasons in a widely deployed UK housing system.
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


def check_balance(type_: str, amount: int, balance: int, account_ref: str = "the account") -> None:
    """A refund never exceeds the credit balance; a write-off never exceeds the arrears; a transfer
    (`amount` as stored: signed, positive moving debt) never moves more than the source holds."""
    if type_ == "refund" and amount > -balance:
        raise Refused(f"a refund of {pounds(amount)} exceeds the credit on {account_ref}: it {balance_words(balance)}")
    if type_ == "write_off" and amount > balance:
        raise Refused(f"a write-off of {pounds(amount)} exceeds the arrears on {account_ref}: it "
                      f"{balance_words(balance)}")
    if type_ == "transfer":
        transfer_leaving("debt" if amount > 0 else "credit", abs(amount), account_ref, balance)


def transfer_leaving(moves: str | None, amount: int, source_ref: str, source_balance: int) -> int:
    """The signed balance a transfer takes off its source account and puts on the other one:
    `amount` when debt moves, `-amount` when credit moves. Refused (409) when the source does
    not hold that much debt or credit, (422) when what moves is not said and cannot be known.

    `moves` None is the older form, a signed amount of balance (positive moved debt): it still
    works where that is what the source can give (debt from an account that owes, credit, with a
    negative amount, from one in credit); a positive amount from an account in credit is refused
    with what to write instead, because its writer almost surely meant the credit."""
    if moves is None:
        if amount > 0 and source_balance < 0:
            raise Refused(f"moves: {source_ref} {balance_words(source_balance)}, so it has no debt to move; say what "
                          f"moves: moves=credit (rentflow adjust request --moves credit) to move its credit, "
                          f"moves=debt to move debt", 422)
        moves, amount = ("debt", amount) if amount > 0 else ("credit", -amount)
    elif moves not in MOVES:
        raise Refused(f"moves: must be debt or credit, got {moves!r}", 422)
    elif amount <= 0:
        raise Refused(f"amount_pence: the {moves} a transfer moves is a positive amount, got {amount}", 422)
    held = source_balance if moves == "debt" else -source_balance
    if amount > held:
        raise Refused(f"cannot move {pounds(amount)} of {moves} from {source_ref}: it {balance_words(source_balance)}")
    return amount if moves == "debt" else -amount


def moves_of(type_: str, amount: int) -> str | None:
    """What a stored transfer moves (None for the other types)."""
    if type_ != "transfer":
        return None
    return "debt" if amount > 0 else "credit"


def check_approver(requested_by: str, approver: str, role: str | None) -> None:
    if _norm(approver) == _norm(requested_by):
        raise Refused(f"{approver!r} requested this; an approver other than the requester must approve it", 403)
    if role != "manager":
        raise Refused(f"{approver!r} is not a manager (register managers with POST /v1/approvers)", 403)


def check_limit(type_: str, amount: int, limit: int | None, approver: str) -> None:
    """A manager approves up to their personal limit for the type (pence, of the amount's size)."""
    if limit is not None and abs(amount) > limit:
        raise Refused(f"{approver!r} may approve a {type_} of at most {limit} pence; this one is {abs(amount)} "
                      "pence (another manager with a higher limit must approve it)", 403)


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
