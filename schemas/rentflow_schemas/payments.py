"""payments.* events, emitted by services/payments."""
from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import Channel, PositivePence


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
    card refund: `REF`). Keyed like the payment it reverses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reversal_id: uuid.UUID = Field(description="derived from provider_id and the reversal's own identity")
    payment_id: uuid.UUID = Field(description="the payment reversed")
    provider_id: str
    provider_ref: str = Field(description="the reversed payment's provider_ref")
    kind: Literal["returned", "refund"]
    amount_pence: PositivePence = Field(description="at most what is left of the payment")
    reversed_at: AwareDatetime = Field(description="when the money went back (its business date is the London date)")
    reason: str = ""
    source: Literal["push", "file", "webhook"] = "file"
    import_id: uuid.UUID | None = None
    received_at: AwareDatetime
