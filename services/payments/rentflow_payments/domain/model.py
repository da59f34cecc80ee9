"""What a provider may send us, and how a refusal is worded. No IO here.

A push body (and every item of a JSON import) is a `PaymentIn`. Validation is strict where
money and time are concerned: `amount_pence` must be a JSON integer (no 12.5, no "1250", no
true), `paid_at` an ISO 8601 date-time string that carries its offset.

A push body is read first by `fast_push` (msgspec: about 1 µs a payment where orjson and pydantic
took 2.5 to 3), which takes only what PaymentIn plainly accepts and hands anything else to pydantic,
so every refusal is pydantic's.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec
from pydantic import (AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler,
                      StrictInt, StrictStr, TypeAdapter, ValidationError, model_validator)
from pydantic_core import PydanticCustomError, core_schema

from rentflow_common.inputs import EARLIEST_DATE, LATEST_DATE, control_character, in_years, no_nul
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


class PushedPayment(msgspec.Struct, frozen=True, dict=True):
    """A PaymentIn as `fast_push` makes it: the same fields, in the same order, with the values pydantic
    would have given (a datetime's tzinfo is datetime.timezone, pydantic's its own TzInfo: equal offsets).
    Read by attribute; `dict=True` gives it an empty __dict__, where a PaymentIn's `__dict__.get` of a
    file payment's own fields (match_ref, lump) finds nothing, as on a push's PaymentIn."""

    provider_ref: str
    channel: Channel
    amount_pence: int
    currency: str
    paid_at: datetime
    reference: str
    payer_name: str | None
    payout_id: str | None
    fee_pence: int | None


Payment = Union[PaymentIn, PushedPayment]

# paid_at as the fast path takes it: what _IsoDatetimeForm admits, narrowed to ASCII digits, seconds
# always, at most six digits of a second (pydantic truncates more, msgspec would round) and an offset
# (Z or ±hh:mm, mm below 60: fromisoformat reads +00:60 as an hour, pydantic refuses it);
# `datetime.fromisoformat` then parses it as pydantic does.
_FAST_PAID_AT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-5][0-9])\Z"


class _PushItem(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """A push item as msgspec reads it: PaymentIn's fields with their types and constraints (paid_at as its
    text, of the form above); unknown fields, or a null reference, are left to pydantic (which ignores
    the one and reads the other as ""), so that msgspec parses every value it meets in full."""

    provider_ref: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    channel: Channel
    amount_pence: Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT_PENCE)]
    currency: Literal["GBP"] = "GBP"
    paid_at: Annotated[str, msgspec.Meta(pattern=_FAST_PAID_AT)]
    reference: Annotated[str, msgspec.Meta(max_length=140)] = ""
    payer_name: Annotated[str, msgspec.Meta(max_length=140)] | None = None
    payout_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+\Z")] | None = None
    fee_pence: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_PENCE)] | None = None


_DECODE_ONE = msgspec.json.Decoder(_PushItem).decode
_DECODE_MANY = msgspec.json.Decoder(list[_PushItem]).decode
_CARD = Channel.card


def fast_push(body: bytes, many: bool) -> list[PushedPayment] | None:
    """The push body's payments when PaymentIn plainly accepts every one, with the values it would give;
    None for anything else (bad JSON, an error, a form it reads differently), which pydantic then decides.
    `many`: a JSON array of payments, else one object. Each of PaymentIn's validators is checked here
    (tests/unit/test_fast_push.py breaks each check in turn)."""
    try:
        items = _DECODE_MANY(body) if many else [_DECODE_ONE(body)]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    fromisoformat, out = datetime.fromisoformat, []
    for p in items:
        ref, reference, payer_name = p.provider_ref, p.reference, p.payer_name
        if not ref.strip():  # _not_blank
            return None
        # no_nul (printable text has no control character; control_character looks closer at the rest)
        if not (ref.isprintable() and reference.isprintable() and (payer_name is None or payer_name.isprintable())):
            if any(text is not None and control_character(text) for text in (ref, reference, payer_name)):
                return None
        try:
            paid_at = fromisoformat(p.paid_at)
        except ValueError:  # no such day or time (2026-02-30T25:00:00Z)
            return None
        if not EARLIEST_DATE <= paid_at.date() <= LATEST_DATE:  # in_years
            return None
        # PaymentIn._payout_of_card_money (a push has no lump)
        if p.channel is not _CARD and (p.payout_id is not None or p.fee_pence is not None):
            return None
        if p.fee_pence is not None and p.fee_pence > p.amount_pence:
            return None
        out.append(PushedPayment(ref, p.channel, p.amount_pence, p.currency, paid_at, reference, payer_name,
                                 p.payout_id, p.fee_pence))
    return out


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

