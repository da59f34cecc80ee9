"""GOV.UK Pay webhook bodies (docs/domain.md §3, cards), as far as intake reads them. Unknown fields are
ignored — `card_details` among them: no card data is read, kept or logged. No IO."""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter

from rentflow_common.inputs import MAX_PENCE, in_years, no_nul

Str = Annotated[StrictStr, AfterValidator(no_nul)]
Moment = Annotated[AwareDatetime, AfterValidator(in_years)]

SUCCEEDED = {"card_payment_succeeded", "card_payment_captured", "card_payment_settled"}
REFUNDED = "card_payment_refunded"
STARTED = "card_payment_started"
ENDED = {"card_payment_failed": "failed", "card_payment_expired": "expired", "card_payment_cancelled": "cancelled"}


class RefundSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount_submitted: Annotated[StrictInt, Field(ge=0, le=MAX_PENCE)] = 0


class CardResource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_PENCE)]
    reference: Annotated[Str, Field(max_length=140)] = ""
    created_date: Moment | None = None
    refund_summary: RefundSummary | None = None
    # Stripe-backed services only: the PSP's fee, in pence, once the payment succeeded (None: not stated)
    fee: Annotated[StrictInt, Field(ge=0, le=MAX_PENCE)] | None = None


class CardEvent(BaseModel):
    """One webhook delivery. `resource_id` is the card payment; deliveries repeat and arrive in any order."""

    model_config = ConfigDict(extra="ignore")

    webhook_message_id: Annotated[Str, Field(min_length=1, max_length=200)]
    resource_id: Annotated[Str, Field(min_length=1, max_length=100)]
    resource_type: Str = "payment"
    event_type: Annotated[Str, Field(min_length=1, max_length=100)]
    created_date: Moment
    resource: CardResource


CARD_EVENT = TypeAdapter(CardEvent)
