"""Types shared by several events."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

Pence = Annotated[int, Field(description="money in integer pence")]
PositivePence = Annotated[int, Field(gt=0, description="money in integer pence, > 0")]


class Channel(StrEnum):
    card = "card"
    bank_transfer = "bank_transfer"
    direct_debit = "direct_debit"
    standing_order = "standing_order"
    cash = "cash"
    housing_benefit = "housing_benefit"
    universal_credit = "universal_credit"


class PaymentMethod(StrEnum):
    dd = "dd"
    so = "so"
    card = "card"
    cash = "cash"
    hb = "hb"
    uc = "uc"
