"""ledger.rent-changes.v1: a tenancy's weekly rent or charges changed (year-end uprating or one change)."""
from __future__ import annotations

import datetime as dt
import uuid

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import Pence, PaymentMethod


class RentChanged(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    change_id: uuid.UUID
    account_ref: str
    tenant_name: str
    property: str
    patch: str
    old_weekly_rent_pence: Pence
    new_weekly_rent_pence: Pence
    old_weekly_charges_pence: Pence = 0
    new_weekly_charges_pence: Pence = 0
    effective_date: dt.date = Field(description="the Monday the new rent is charged from")
    payment_method: PaymentMethod | None = None
    reason: str = Field(default="annual uprating", description="e.g. 'annual uprating 4.8%'")
    occurred_at: AwareDatetime


class NoticeEvent(BaseModel):
    """notifications.notices.v1: a notice to a tenant was produced, delivered or refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notice_id: uuid.UUID
    kind: str = Field(description="rent_review, dd_failure, dd_advance_notice, ...")
    account_ref: str
    status: str = Field(description="produced, delivered, failed, refused")
    served_on: dt.date | None = None
    effective_on: dt.date | None = None
    old_weekly_pence: Pence | None = None
    new_weekly_pence: Pence | None = None
    document: str | None = Field(default=None, description="path of the rendered letter")
    reason: str | None = None
    occurred_at: AwareDatetime
    letter_date: dt.date | None = Field(default=None, description="the date the letter bears (Europe/London)")
    html_document: str | None = Field(default=None, description="path of the HTML version of the letter")
    channel: str | None = Field(default=None, description="delivered/failed: letter or email")
    amount_pence: Pence | None = Field(default=None, description="dd_failure: the returned amount")
