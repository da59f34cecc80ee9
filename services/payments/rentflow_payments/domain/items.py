"""What a file item may be besides a push-API payment, as parsers hand it over: validated here
exactly as push bodies are (no IO). Each carries an `identity`: the text its id is derived from,
built by the parser from what identifies the item in the real world (not from the file it came
in), so the same item in a re-sent or another file is recognised as a duplicate."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter

from rentflow_common.inputs import in_years

from rentflow_schemas.directdebit import MandateInstruction, ReturnCode
from rentflow_schemas.payments import Lump

from rentflow_payments.domain.model import MAX_AMOUNT_PENCE, PaymentIn

Pence = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT_PENCE, description="integer pence, > 0")]
Identity = Annotated[StrictStr, Field(min_length=1, max_length=400)]
Text140 = Annotated[StrictStr, Field(max_length=140)]
MandateAction = MandateInstruction.model_fields["action"].annotation  # the event's own list


class FilePaymentIn(PaymentIn):
    """A payment from a file: a push body plus the sender's own transaction id when it has one
    (camt EndToEndId), kept to find the original of a later reversal, and the kind of lump sum a
    statement credit is when its parser recognised one (the ledger matches lumps to their detail)."""

    match_ref: Annotated[StrictStr, Field(max_length=140)] | None = None
    lump: Lump | None = None


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
    cancels_identity: Identity | None = None  # a cancelled DDICA claim: the identity of the claim's return


class MandateIn(BaseModel):
    """A mandate event: ADDACS advice, AUDDIS advice, a file-level AUDDIS report on a lodgement
    (AUDACC/AUDREJ), or a 0N/0C/0S record of a Standard 18 file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: Identity
    source: Literal["addacs", "auddis", "bacs18"]
    reference: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    payer_name: Text140 | None = None
    reason_code: Annotated[StrictStr, Field(min_length=1, max_length=8)]
    action: MandateAction  # type: ignore[valid-type]
    description: Text140
    effective_date: Annotated[dt.date, AfterValidator(in_years)] | None = None
    advice_sequence: Annotated[StrictStr, Field(max_length=20)] | None = None
    lodgement_serial: Annotated[StrictStr, Field(max_length=20)] | None = None
    lodgement_file_number: Annotated[StrictStr, Field(max_length=20)] | None = None
    accepted_count: Annotated[StrictInt, Field(ge=0)] | None = None
    rejected_count: Annotated[StrictInt, Field(ge=0)] | None = None
    file_error_code: Annotated[StrictStr, Field(max_length=20)] | None = None


class OriginalHint(BaseModel):
    """How to find the payment a reversal takes back: its provider_ref when the sender names it
    (GOV.UK Pay), else its EndToEndId, else reference + payer name (+ the reversal's amount)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_ref: StrictStr | None = None
    match_ref: StrictStr | None = None
    reference: StrictStr = ""
    payer_name: StrictStr | None = None


class ReversalIn(BaseModel):
    """Money of an earlier payment going back: a bank reversal of a credit (camt RvslInd); or, kind
    outgoing_returned, money the landlord paid out coming back (camt RRTN / RtrInf): nothing intake
    took in is reversed, the original hint names the outgoing payment; or, kind benefit_recovered, an
    overpaid Housing Benefit rebate recovered (a negative HB schedule line): the hint's reference is
    the rent account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: Identity
    kind: Literal["returned", "refund", "outgoing_returned", "benefit_recovered"]
    amount_pence: Pence
    reversed_at: Annotated[AwareDatetime, AfterValidator(in_years)]
    reason: Text140 = ""
    original: OriginalHint
    payout_id: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None  # card: the payout it came out of
    fee_pence: Annotated[StrictInt, Field(ge=0)] | None = None  # card: the provider's fee on it (a dispute fee)


RETURN = TypeAdapter(ReturnIn)
MANDATE = TypeAdapter(MandateIn)
REVERSAL = TypeAdapter(ReversalIn)
FILE_PAYMENT = TypeAdapter(FilePaymentIn)
