"""payments.* events, emitted by services/payments."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import Channel, PositivePence

# A statement credit that is a lump sum whose detail arrives elsewhere (docs/domain.md §3): the Direct Debit
# collection total (Standard 18), PayPoint/allpay/Post Office settlements (the cash file), card
# acquirer settlements, GOV.UK Pay payouts, DWP Universal Credit managed payments, bank interest.
Lump = Literal["dd_collection", "cash_settlement", "card_settlement", "govuk_pay_payout", "uc_managed_payment",
               "interest"]
# the lumps a card provider pays out under a payout id (`payout_id` on the statement line and on its detail)
PAYOUT_LUMPS: frozenset[str] = frozenset({"card_settlement", "govuk_pay_payout"})


class PaymentReceived(BaseModel):
    """payments.received.v1: money that reached the landlord, not yet allocated to an account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    payment_id: uuid.UUID = Field(description="derived from provider_id and provider_ref")
    provider_id: str
    provider_ref: str
    channel: Channel
    amount_pence: PositivePence
    currency: Literal["GBP"] = "GBP"
    paid_at: AwareDatetime
    received_at: AwareDatetime
    reference: str = Field(default="", description="what the payer quoted, free text")
    payer_name: str | None = None
    source: Literal["push", "file", "webhook"] = "push"
    import_id: uuid.UUID | None = None
    lump: Lump | None = Field(default=None, description="a statement lump sum recognised by its bank transaction "
                                                        "code or narrative; None for a single payment")
    payout_id: str | None = Field(default=None, max_length=100, description=(
        "the card provider's payout (settlement) id: on a card receipt, the payout it was paid out to the "
        "landlord's bank in, when the detail names it (e.g. a Stripe payout reconciliation report's "
        "automatic_payout_id, po_...); on a statement lump, the payout id the bank's narrative carries. "
        "None when unknown (events before this field have none); the ledger then matches by amount per day"))
    fee_pence: int | None = Field(default=None, ge=0, description=(
        "card receipts: the provider's fee taken out of this payment before it was paid out (integer pence; "
        "a Stripe report's `fee`, GOV.UK Pay's `fee`), when the detail states it. The tenant is credited "
        "amount_pence (the gross); the ledger matches a payout lump to its charges less their fees and posts "
        "the fees as a journal (Dr card fees, Cr bank). None when not stated (events before this field have "
        "none): nothing is taken off"))


class ItemError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    line: int | None = None
    item: int | None = None
    field: str | None = None
    reason: str


class PaymentRejected(BaseModel):
    """payments.rejected.v1: an input item that could not be taken in, with where and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str
    source: Literal["push", "file", "webhook"]
    import_id: uuid.UUID | None = None
    provider_ref: str | None = None
    errors: list[ItemError]
    received_at: AwareDatetime


class PaymentReversed(BaseModel):
    """payments.reversed.v1: money of a payment taken in earlier went back — the bank reversed the
    credit (a returned payment: the ledger posts `RRC`) or the provider refunded it to the payer (a
    card refund: `REF`). Keyed like the payment it reverses.

    kind `outgoing_returned` is the other direction: money the landlord paid out (a refund, a
    transfer) came back to its bank account, a statement credit with bank transaction sub-family RRTN
    or return information. Intake never took that outgoing payment in: `payment_id` is derived from
    its own reference (`provider_ref` `outgoing:<EndToEndId or statement identity>`), and the ledger
    finds what bounced by `original_end_to_end_id` / `original_reference`.

    kind `benefit_recovered`: an overpaid Housing Benefit rent rebate recovered from the rent account
    (a negative line of a council's HB schedule): not bank money and not a reversal of one payment
    intake took in — `payment_id` is derived from the line's own identity, `original_reference` names
    the rent account, and the ledger debits it (`DHB`) against the benefits clearing GL code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reversal_id: uuid.UUID = Field(description="derived from provider_id and the reversal's own identity")
    payment_id: uuid.UUID = Field(description="the payment reversed")
    provider_id: str
    provider_ref: str = Field(description="the reversed payment's provider_ref")
    kind: Literal["returned", "refund", "outgoing_returned", "benefit_recovered"]
    amount_pence: PositivePence = Field(description="at most what is left of the payment")
    reversed_at: AwareDatetime = Field(description="when the money went back (its business date is the London date)")
    reason: str = ""
    source: Literal["push", "file", "webhook"] = "file"
    import_id: uuid.UUID | None = None
    received_at: AwareDatetime
    payout_id: str | None = Field(default=None, max_length=100, description=(
        "card refunds and disputes: the payout the provider took this money out of (a Stripe payout "
        "reconciliation report's automatic_payout_id, po_...). The ledger counts it against that payout: "
        "its lump is matched to the charges less their fees less these. None when not stated"))
    fee_pence: int | None = Field(default=None, ge=0, description=(
        "card refunds and disputes: the provider's fee on this item, taken out of the payout too (a Stripe "
        "dispute fee); posted with the payout's card fees. None when not stated"))
    original_end_to_end_id: str | None = Field(default=None, description="outgoing_returned: the bounced payment's "
                                                                         "EndToEndId")
    original_reference: str | None = Field(default=None, description="outgoing_returned: its payee reference; "
                                                                     "benefit_recovered: the rent account")
