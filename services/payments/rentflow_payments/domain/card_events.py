"""GOV.UK Pay webhook bodies (DOMAIN.md §3, cards), as far as intake reads them. Unknown fields are
ignored — `card_details` among them: no card data is read, kept or logged. No IO."""
from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter

SUCCEEDED = {"card_payment_succeeded", "card_payment_captured", "card_payment_settled"}
REFUNDED = "card_payment_refunded"
STARTED = "card_payment_started"
ENDED = {"card_payment_failed": "failed", "card_payment_expired": "expired", "card_payment_cancelled": "cancelled"}


class RefundSummary(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount_submitted: Annotated[StrictInt, Field(ge=0)] = 0


class CardResource(BaseModel):
    model_config = ConfigDict(extra="ignore")

    amount: Annotated[StrictInt, Field(gt=0)]
    reference: Annotated[StrictStr, Field(max_length=140)] = ""
    created_date: AwareDatetime | None = None
    refund_summary: RefundSummary | None = None


class CardEvent(BaseModel):
    """One webhook delivery. `resource_id` is the card payment; deliveries repeat and arrive in any order."""

    model_config = ConfigDict(extra="ignore")

    webhook_message_id: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    resource_id: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    resource_type: StrictStr = "payment"
    event_type: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    created_date: AwareDatetime
    resource: CardResource


CARD_EVENT = TypeAdapter(CardEvent)
