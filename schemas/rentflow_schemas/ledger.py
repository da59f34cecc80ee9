"""ledger.* and gl.* events, emitted by services/ledger."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from rentflow_schemas.common import Channel, Pence, PaymentMethod, PositivePence

# docs/domain.md §2 transaction codes.
DebitCode = Literal["DBR", "DSC", "DHE", "DWR", "DGA", "DCI", "DCC", "DRR", "WON"]
CreditCode = Literal["RDD", "RSO", "RBP", "RCP", "RPY", "RCO", "RHB", "RUC", "RIT", "WOF"]
ReversalCode = Literal["RDN", "RRC", "REF", "RDR", "DHB"]
# BBF: balance brought forward when an account is first imported (signed: arrears or credit).
# Not WON: a write-on is a debit raised in rentflow, an opening balance is history carried in.
OpeningCode = Literal["BBF"]
TransactionCode = Literal[DebitCode, CreditCode, ReversalCode, OpeningCode]


class TransactionPosted(BaseModel):
    """ledger.transactions.v1: one posting on a rent account, keyed by account_ref."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: uuid.UUID
    account_ref: str
    type_code: TransactionCode
    amount_pence: Pence = Field(description="signed: positive raises the balance (a debit), negative lowers it (a credit)")
    balance_after_pence: Pence
    posted_at: AwareDatetime
    business_date: dt.date = Field(description="Europe/London date the posting belongs to")
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    source_ref: str
    channel: Channel | None = None
    payment_id: uuid.UUID | None = None
    allocation_rule: str | None = Field(default=None, description="the allocation rule that matched, for receipts")
    week_start: dt.date | None = Field(default=None, description="rent week (Monday) a debit is for")


class AccountUpserted(BaseModel):
    """ledger.accounts.v1: an account as it now stands, after an import or change."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_ref: str
    property: str
    patch: str
    tenant_name: str | None = Field(default=None, description="as on the rent account (for statements and letters)")
    officer: str | None = None
    tenancy_start: dt.date
    tenancy_end: dt.date | None = None
    weekly_rent_pence: Pence
    weekly_charges_pence: Pence = 0
    payment_method: PaymentMethod | None = None
    balance_pence: Pence


class SuspenseEvent(BaseModel):
    """ledger.suspense.v1: an unallocated receipt opened, later allocated by hand, or reversed
    (its money went back before it was allocated: it leaves the queue, posted to no account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action: Literal["opened", "allocated", "reversed"]
    payment_id: uuid.UUID
    amount_pence: PositivePence
    channel: Channel
    reference: str
    payer_name: str | None = None
    received_at: AwareDatetime
    reason: str
    account_ref: str | None = None
    allocated_by: str | None = None
    note: str | None = None
    paid_at: AwareDatetime | None = Field(default=None, description="when the payer paid (the value time)")
    business_date: dt.date | None = Field(
        default=None, description="Europe/London date of paid_at: the value date the receipt is posted with, "
                                  "in suspense and when allocated")
    period: str | None = Field(
        default=None, pattern=r"^\d{4}-\d{2}$",
        description="the month the journal of this action is booked in: the value date's, or the next open "
                    "month when that one was closed")


class EndedTenancyPayment(BaseModel):
    """ledger.ended-tenancy-payments.v1: a payment posted to an account whose tenancy had ended
    before the payment's date. It is posted (the money is on the account it names) and flagged for
    an officer: a former tenant clearing arrears, or a payment meant for someone else."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: uuid.UUID = Field(description="the posting (the receipt on the account)")
    payment_id: uuid.UUID
    account_ref: str
    amount_pence: PositivePence
    channel: Channel
    reference: str = Field(description="what the payer quoted")
    payer_name: str | None = None
    business_date: dt.date = Field(description="Europe/London date the payment was made (its value date)")
    tenancy_end: dt.date = Field(description="the day the tenancy ended, before business_date")
    balance_after_pence: Pence = Field(description="the account's balance after the payment")
    posted_at: AwareDatetime


class JournalLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gl_code: str
    debit_pence: Pence = Field(default=0, ge=0)
    credit_pence: Pence = Field(default=0, ge=0)
    account_ref: str | None = None


class JournalPosted(BaseModel):
    """gl.journals.v1: a balanced double-entry journal for finance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    journal_id: uuid.UUID
    business_date: dt.date
    period: str = Field(pattern=r"^\d{4}-\d{2}$")
    posted_at: AwareDatetime
    kind: Literal["debit", "receipt", "unidentified_receipt", "suspense_allocated", "reversal", "adjustment",
                  "opening_balance", "settlement", "card_fees"] = Field(
        description="settlement: a cash settlement lump sum matched to its cash file moves the money from cash "
                    "control to the bank; card_fees: a card payout matched to its charges less the provider's "
                    "fees posts those fees (Dr card fees, Cr bank)")
    source_ref: str
    lines: list[JournalLine] = Field(min_length=2)

    @model_validator(mode="after")
    def _balanced(self) -> "JournalPosted":
        debits = sum(line.debit_pence for line in self.lines)
        credits = sum(line.credit_pence for line in self.lines)
        if debits != credits:
            raise ValueError(f"journal does not balance: debits {debits} != credits {credits}")
        return self


# What the ledger could not place on its own and finance must look at (UnreconciledItem.kind).
UNRECONCILED_KINDS: dict[str, str] = {
    "dd_return_unmatched": "a Direct Debit return (ARUDD item or indemnity claim) whose collection is on no account "
                           "and not in suspense: the bank took money back that the ledger never received",
    "dd_claim_cancellation_unmatched": "a cancelled indemnity claim the ledger never posted",
    "lump_unmatched": "a statement lump sum (DD collection total, cash or card settlement, GOV.UK Pay payout, UC "
                      "managed payment) that matches no detail received, or more than one",
    "interest": "bank interest credited on the statement: not rent, for finance to book",
    "outgoing_return_unmatched": "money the landlord paid out came back, and no refund or payment the ledger "
                                 "made matches it",
    "lodgement_unmatched": "an AUDDIS report on a whole lodgement (AUDACC/AUDREJ) whose mandates the ledger does "
                           "not know",
    "benefit_recovery_unmatched": "a Housing Benefit overpayment to recover from a rent account the ledger does "
                                  "not know",
}


class UnreconciledItem(BaseModel):
    """ledger.unreconciled.v1: bank money (or a Bacs report about it) the ledger could not place on its
    own — never rent in suspense, never only a log line. Notifications opens a finance task for each
    `opened`, rewords it on `updated` (what is wrong changed: e.g. part of a payout's detail arrived and
    its total differs) and completes it on `resolved` (the detail arrived later, or a person settled it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: uuid.UUID = Field(description="derived from the input: the return, payment or reversal id")
    action: Literal["opened", "resolved", "updated"]
    kind: str = Field(description="one of UNRECONCILED_KINDS; a str so a newer kind does not break older readers")
    amount_pence: Pence | None = None
    reference: str = Field(default="", description="the reference the bank or report gave")
    account_ref: str | None = None
    business_date: dt.date = Field(description="Europe/London date of the money movement or report")
    reason: str = Field(description="what happened and what to look at, in words")
    source_id: uuid.UUID | None = Field(default=None, description="the input event's own id (return_id, payment_id, "
                                                                  "reversal_id, instruction_id)")
    occurred_at: AwareDatetime
