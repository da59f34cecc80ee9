"""What a provider may send us, and how a refusal is worded. No IO here.

A push body (and every item of a JSON import) is a `PaymentIn`. Validation is strict where
money and time are concerned: `amount_pence` must be a JSON integer (no 12.5, no "1250", no
true), `paid_at` an ISO 8601 date-time string that carries its offset.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler,
                      StrictInt, StrictStr, TypeAdapter, ValidationError, model_validator)
from pydantic_core import PydanticCustomError, core_schema

from rentflow_common.inputs import in_years, no_nul
from rentflow_schemas.common import Channel

MAX_AMOUNT_PENCE = 10**12  # £10bn: anything larger is a typo, and it keeps far inside bigint
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}"


class _IsoDatetimeForm:
    """Before a date-time is parsed: a datetime (from a Python caller) or a string that starts like an
    ISO 8601 date-time (not a number of seconds, nor a bare date). Checked by pydantic itself: as a
    Python validator it cost about a µs per payment."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        form = core_schema.union_schema(
            [core_schema.is_instance_schema(datetime), core_schema.str_schema(strict=True, pattern=_ISO_DATETIME)],
            custom_error_type="datetime_format",
            custom_error_message="expected an ISO 8601 date-time with a timezone, e.g. 2026-04-06T09:30:00Z")
        parsed = handler(source)
        # its JSON schema is the date-time's (pydantic would describe a chain by its first step)
        return core_schema.chain_schema([form, parsed], metadata={"pydantic_js_functions": [
            lambda _schema, to_json: to_json(parsed)]})


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


class PaymentIn(BaseModel):
    """One payment as a provider pushes it (docs/contract.md, provider push API)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    provider_ref: Annotated[StrictStr, Field(min_length=1, max_length=100,
                                             description="the provider's own id for it, unique per provider"),
                            AfterValidator(_not_blank), AfterValidator(no_nul)]
    channel: Channel
    amount_pence: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_PENCE, description="integer pence, > 0")]
    currency: Literal["GBP"] = "GBP"
    paid_at: Annotated[AwareDatetime, _IsoDatetimeForm(), AfterValidator(in_years),
                       Field(description="ISO 8601 with offset, e.g. 2026-04-06T09:30:00Z")]
    reference: Annotated[StrictStr, Field(max_length=140, description="what the payer quoted, free text"),
                         BeforeValidator(lambda v: "" if v is None else v), AfterValidator(no_nul)] = ""
    payer_name: Annotated[StrictStr, Field(max_length=140), AfterValidator(no_nul)] | None = None
    payout_id: Annotated[StrictStr, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$",
                                          description="card payments: the provider's payout (settlement) id "
                                                      "this payment was paid out to the bank in, e.g. a Stripe "
                                                      "po_...; the ledger matches the statement's payout by it")
                         ] | None = None
    fee_pence: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_PENCE,
                                          description="card payments: the provider's fee taken out of this "
                                                      "payment before it was paid out (integer pence); the "
                                                      "tenant is still credited amount_pence")] | None = None

    @model_validator(mode="after")
    def _payout_of_card_money(self) -> "PaymentIn":
        # a statement lump (a file item's `lump`) names the payout it is; otherwise only card payments have one
        if self.payout_id is not None and self.channel != "card" and self.__dict__.get("lump") is None:
            raise PydanticCustomError("payout_card_only", "payout_id: only card payments are paid out in payouts")
        if self.fee_pence is not None and (self.channel != "card" or self.__dict__.get("lump") is not None):
            raise PydanticCustomError("fee_card_only", "fee_pence: only a card payment has a provider's fee")
        if self.fee_pence is not None and self.fee_pence > self.amount_pence:
            raise PydanticCustomError("fee_too_large", "fee_pence: more than the payment's amount")
        return self


ONE = TypeAdapter(PaymentIn)
MANY = TypeAdapter(list[PaymentIn])

_FRIENDLY = {
    "model_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "int_type": "expected a whole number of pence (a JSON integer)",
    "missing": "required",
    "timezone_aware": "must include a timezone offset, e.g. 2026-04-06T09:30:00Z or +01:00",
}


def field_errors(exc: ValidationError, *, item_base: int | None = None) -> list[dict[str, Any]]:
    """Every error of a validation, as `{"item"?, "field", "reason"}`.

    `item_base` given: the first element of each error location is a list index and is reported as
    `item` (index + item_base). Field names are dotted; `None` when the whole item is wrong."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = list(err["loc"])
        entry: dict[str, Any] = {}
        if item_base is not None and loc and isinstance(loc[0], int):
            entry["item"] = loc.pop(0) + item_base
        # drop pydantic's union/function tags ("function-before[...]", "str") from the location
        names = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "int")))]
        entry["field"] = ".".join(names) or None
        entry["reason"] = _FRIENDLY.get(err["type"], err["msg"])
        if err["type"] == "int_type" and not entry["field"]:
            entry["reason"] = err["msg"]
        out.append(entry)
    return out

