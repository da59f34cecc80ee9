"""What a file item may be besides a push-API payment, as parsers hand it over: validated here
exactly as push bodies are (no IO). Each carries an `identity`: the text its id is derived from,
built by the parser from what identifies the item in the real world (not from the file it came
in), so the same item in a re-sent or another file is recognised as a duplicate."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter

from rentflow_common.inputs import in_years

from rentflow_schemas.directdebit import ReturnCode

from rentflow_payments.domain.model import MAX_AMOUNT_PENCE, PaymentIn

Pence = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_PENCE, description="integer pence, > 0")]
Identity = Annotated[StrictStr, Field(min_length=1, max_length=400)]
Text140 = Annotated[StrictStr, Field(max_length=140)]
MandateAction = Literal["new", "cancelled", "amended", "transferred", "reinstated", "rejected", "converted",
                        "disputed", "deceased", "closed"]


class FilePaymentIn(PaymentIn):
    """A payment from a file: a push body plus the sender's own transaction id when it has one
    (camt.053 EndToEndId), kept to find the original of a later reversal."""

    match_ref: Annotated[StrictStr, Field(max_length=140)] | None = None


class ReturnIn(BaseModel):
    """An unpaid Direct Debit: an ARUDD ReturnedDebitItem or a collection in a DDICA claim."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: Identity
    source: Literal["arudd", "ddica"]
    reference: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    payer_name: Text140 | None = None
    amount_pence: Pence
    return_code: ReturnCode
    return_code_raw: Annotated[StrictStr, Field(max_length=40)]
    return_description: Text140 = ""
    transaction_code: Annotated[StrictStr, Field(max_length=4)] | None = None
    original_processing_date: Annotated[dt.date, AfterValidator(in_years)]
    reported_on: Annotated[dt.date, AfterValidator(in_years)]


class MandateIn(BaseModel):
    """A mandate event: ADDACS advice, AUDDIS rejection, or a 0N/0C/0S record of a Standard 18 file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: Identity
    source: Literal["addacs", "auddis", "bacs18"]
    reference: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    payer_name: Text140 | None = None
    reason_code: Annotated[StrictStr, Field(min_length=1, max_length=8)]
    action: MandateAction
    description: Text140
    effective_date: Annotated[dt.date, AfterValidator(in_years)] | None = None


class OriginalHint(BaseModel):
    """How to find the payment a reversal takes back: its provider_ref when the sender names it
    (GOV.UK Pay), else its EndToEndId, else reference + payer name (+ the reversal's amount)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_ref: StrictStr | None = None
    match_ref: StrictStr | None = None
    reference: StrictStr = ""
    payer_name: StrictStr | None = None


class ReversalIn(BaseModel):
    """Money of an earlier payment going back: a bank reversal of a credit (camt.053 RvslInd)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: Identity
    kind: Literal["returned", "refund"]
    amount_pence: Pence
    reversed_at: Annotated[AwareDatetime, AfterValidator(in_years)]
    reason: Text140 = ""
    original: OriginalHint


RETURN = TypeAdapter(ReturnIn)
MANDATE = TypeAdapter(MandateIn)
REVERSAL = TypeAdapter(ReversalIn)
FILE_PAYMENT = TypeAdapter(FilePaymentIn)
