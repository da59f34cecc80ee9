"""Direct Debit events: Bacs reports taken in by services/payments (directdebit.*) and what the
ledger makes of them (ledger.dd-failures.v1, ledger.mandates.v1). docs/domain.md §3."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import PositivePence

# ARUDD reason codes after normalisation (e.g. "0128" -> "0", "F21" -> "1"); "unknown" when the
# report's code is not recognised (the raw code is on the event): rentflow_schemas.bacs has the table.
ReturnCode = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "unknown"]
MandateState = Literal["live", "cancelled", "suspended", "held", "pending"]


class DirectDebitReturned(BaseModel):
    """directdebit.returned.v1: one unpaid Direct Debit (ARUDD item, or a DDICA indemnity claim)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    return_id: uuid.UUID = Field(description="derived from report, reference, original date and amount")
    provider_id: str
    import_id: uuid.UUID | None = None
    source: Literal["arudd", "ddica"] = "arudd"
    reference: str = Field(description="the DD reference the collection was sent with (mandate reference)")
    payer_name: str | None = None
    amount_pence: PositivePence
    return_code: ReturnCode
    return_code_raw: str = Field(description="the code as the report has it, e.g. 0128 (first character the reason)")
    return_description: str = ""
    transaction_code: str | None = Field(default=None, description="Bacs code of the returned item, e.g. 17")
    original_processing_date: dt.date
    reported_on: dt.date = Field(description="the report's current processing date")
    received_at: AwareDatetime
    cancels_return_id: uuid.UUID | None = Field(
        default=None, description="a DDICA claim cancelled by the paying bank: the return (the claim) this undoes; "
                                  "the money of the claim comes back to the landlord")


class MandateInstruction(BaseModel):
    """directdebit.mandates.v1: a mandate event from ADDACS, an AUDDIS rejection or a 0N/0C/0S
    record of a Standard 18 file; or a file-level AUDDIS report on a whole lodgement (action
    lodgement_accepted / lodgement_rejected, reference `LODGEMENT <lodgement_serial>`): the mandates
    lodged in the Standard 18 file with that volume serial number are live, or none of them is.
    What each action does to a mandate: rentflow_schemas.bacs.MANDATE_ACTIONS."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instruction_id: uuid.UUID
    provider_id: str
    import_id: uuid.UUID | None = None
    source: Literal["addacs", "auddis", "bacs18"]
    reference: str
    payer_name: str | None = None
    reason_code: str = Field(description="ADDACS/AUDDIS reason code, or the Bacs transaction code (0N, 0C, 0S)")
    action: Literal["new", "cancelled", "amended", "transferred", "reinstated", "rejected", "converted", "disputed",
                    "deceased", "closed", "query", "lodgement_accepted", "lodgement_rejected"]
    description: str
    effective_date: dt.date | None = None
    received_at: AwareDatetime
    advice_sequence: str | None = Field(default=None, description="the Bacs advice's sequence number (aosn)")
    lodgement_serial: str | None = Field(
        default=None, description="volume serial number of the Bacs submission the instruction was lodged in "
                                  "(Standard 18 VOL1 label; AUDACC/AUDREJ vol-serial-number)")
    lodgement_file_number: str | None = Field(default=None, description="AUDACC/AUDREJ originator-file-number")
    accepted_count: int | None = Field(default=None, description="AUDACC/AUDREJ accepted-ddi")
    rejected_count: int | None = Field(default=None, description="AUDACC/AUDREJ rejected-ddi")
    file_error_code: str | None = Field(default=None, description="AUDREJ file-error-code")


class DdFailure(BaseModel):
    """ledger.dd-failures.v1: an unpaid Direct Debit as the ledger handled it, with what should follow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_id: uuid.UUID
    return_id: uuid.UUID
    account_ref: str | None = Field(description="None when no account has this DD reference (sent to suspense)")
    reference: str
    amount_pence: PositivePence
    return_code: ReturnCode
    meaning: str
    action: str = Field(description="what rentflow and the officer should do (docs/domain.md table)")
    mandate_state: MandateState
    may_represent: bool
    represent_by: dt.date | None = Field(default=None, description="last day a re-presentation (code 18) may go")
    original_processing_date: dt.date
    reversal_transaction_id: uuid.UUID | None = None
    payer_name: str | None = None
    occurred_at: AwareDatetime


class MandateChanged(BaseModel):
    """ledger.mandates.v1: an account's mandate state changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account_ref: str | None
    reference: str
    old_state: MandateState | None
    new_state: MandateState
    reason_code: str
    description: str
    needs_person: bool = Field(description="cancelled, deceased, transferred, closed or disputed: a task follows")
    effective_date: dt.date | None = None
    instruction_id: uuid.UUID
    occurred_at: AwareDatetime
