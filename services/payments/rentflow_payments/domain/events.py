"""What intake emits, and the ids that make it idempotent. No IO.

Ids are derived from the input's identity: the same provider_ref from the same provider is the
same payment (and the same event) for ever; a rejected file item is identified by its import and
position; an unpaid DD, a mandate instruction, a reversal by what identifies them in their report."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Callable, Iterable, Literal

import orjson
from rentflow_common.events import trusted
from rentflow_schemas import TOPICS, derive_event_id, event_id_of
from rentflow_schemas.envelope import derive_event_ids
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction
from rentflow_schemas.payments import ItemError, PaymentReceived, PaymentRejected

from rentflow_payments.domain.items import MandateIn, ReturnIn
from rentflow_payments.domain.model import Payment, PaymentIn

Source = Literal["push", "file", "webhook"]


def payment_id(provider_id: str, provider_ref: str) -> uuid.UUID:
    return derive_event_id("payment", provider_id, provider_ref)


def payment_ids(provider_id: str, provider_refs: Iterable[str]) -> list[uuid.UUID]:
    """`payment_id` of each of a request's payments, in one pass."""
    return derive_event_ids("payment", provider_id, last=provider_refs)


def received_event_id(pid: uuid.UUID) -> uuid.UUID:
    return event_id_of(TOPICS["payments.received.v1"], pid)


def import_id(provider_id: str, sha256_hex: str) -> uuid.UUID:
    return derive_event_id("import", provider_id, sha256_hex)


def return_id(identity: str) -> uuid.UUID:
    """An unpaid DD is the same return whichever report or provider carries it."""
    return derive_event_id("dd-return", identity)


def instruction_id(identity: str) -> uuid.UUID:
    return derive_event_id("mandate-instruction", identity)


def reversal_id(provider_id: str, identity: str) -> uuid.UUID:
    return derive_event_id("payment-reversal", provider_id, identity)


def outgoing_payment_id(provider_id: str, outgoing_ref: str) -> uuid.UUID:
    """The id a returned outgoing payment's event names it by: intake never took it in, so it is
    derived from its own reference (`outgoing:<EndToEndId or statement identity>`)."""
    return derive_event_id("outgoing-payment", provider_id, outgoing_ref)


def received(p: PaymentIn, *, pid: uuid.UUID, provider_id: str, received_at: datetime, source: Source,
             imp: uuid.UUID | None) -> PaymentReceived:
    """Built from the validated PaymentIn's typed values without validating them again (`trusted`:
    PaymentReceived's validation was about a tenth of a push's CPU); test_events validates what it
    writes against the schema."""
    return trusted(PaymentReceived, payment_id=pid, provider_id=provider_id, provider_ref=p.provider_ref,
                   channel=p.channel, amount_pence=p.amount_pence, currency=p.currency, paid_at=p.paid_at,
                   received_at=received_at, reference=p.reference, payer_name=p.payer_name, source=source,
                   import_id=imp, lump=optional_field(p, "lump"),  # lump: a statement lump sum's kind
                   payout_id=p.payout_id, fee_pence=p.fee_pence)


def received_data(p: Payment, *, pid: uuid.UUID, provider_id: str, received_at: datetime, source: Source,
                  imp: uuid.UUID | None) -> dict[str, Any]:
    """`received`'s fields as a plain dict in the model's field order, for `emit_data` (the push path:
    no model built, nor read back by the encoder); the row is byte for byte the one `received` encodes
    to (test_events)."""
    return received_data_of(provider_id=provider_id, received_at=received_at, source=source, imp=imp)(p, pid)


def received_data_of(*, provider_id: str, received_at: datetime | orjson.Fragment, source: Source,
                     imp: uuid.UUID | None) -> Callable[[Payment, uuid.UUID], dict[str, Any]]:
    """`received_data` for the payments of one request: each dict a copy of one holding the request's
    values (a copy keeps the keys' order), with the payment's own set in it. `received_at` a datetime,
    or its `instant` (serialised once for the request)."""
    request = {"payment_id": None, "provider_id": provider_id, "provider_ref": None, "channel": None,
               "amount_pence": None, "currency": None, "paid_at": None, "received_at": received_at,
               "reference": None, "payer_name": None, "source": source, "import_id": imp, "lump": None,
               "payout_id": None, "fee_pence": None}

    def data(p: Payment, pid: uuid.UUID) -> dict[str, Any]:
        d = request.copy()
        d["payment_id"] = pid
        d["provider_ref"] = p.provider_ref
        d["channel"] = p.channel
        d["amount_pence"] = p.amount_pence
        d["currency"] = p.currency
        d["paid_at"] = p.paid_at
        d["reference"] = p.reference
        d["payer_name"] = p.payer_name
        d["lump"] = p.__dict__.get("lump")  # a file's statement lump sum only (optional_field, inlined)
        d["payout_id"] = p.payout_id
        d["fee_pence"] = p.fee_pence
        return d
    return data


def received_key(provider_id: str, provider_ref: str) -> str:
    """payments.received.v1's key (the registry's key_of)."""
    return f"{provider_id}:{provider_ref}"


def optional_field(p: Payment, name: str) -> Any:
    """A field only some kinds of payment have (a file's `match_ref`, `lump`), else None. Read from
    the model's fields: getattr with a default on a pydantic model that lacks the field goes
    through pydantic's __getattr__ and an AttributeError, about 6 µs a call (twice per payment)."""
    return p.__dict__.get(name)


def rejected(*, provider_id: str, imp: uuid.UUID, kind: str, position: int, errors: list[dict[str, Any]],
             provider_ref: str | None, received_at: datetime) -> tuple[PaymentRejected, tuple[object, ...]]:
    """payments.rejected.v1 for one bad file item (`kind` "line" or "item"), with its identity."""
    event = PaymentRejected(
        provider_id=provider_id, source="file", import_id=imp, provider_ref=provider_ref, received_at=received_at,
        errors=[ItemError(**{kind: position}, field=e.get("field"), reason=e["reason"]) for e in errors])
    return event, (imp, kind, position)


def rejected_event_id(imp: uuid.UUID, kind: str, position: int) -> uuid.UUID:
    return event_id_of(TOPICS["payments.rejected.v1"], imp, kind, position)


def returned(r: ReturnIn, *, rid: uuid.UUID, provider_id: str, imp: uuid.UUID | None,
             received_at: datetime) -> DirectDebitReturned:
    return DirectDebitReturned(
        return_id=rid, provider_id=provider_id, import_id=imp, source=r.source, reference=r.reference,
        payer_name=r.payer_name, amount_pence=r.amount_pence, return_code=r.return_code,
        return_code_raw=r.return_code_raw, return_description=r.return_description,
        transaction_code=r.transaction_code, original_processing_date=r.original_processing_date,
        reported_on=r.reported_on, received_at=received_at,
        cancels_return_id=return_id(r.cancels_identity) if r.cancels_identity else None)


def instruction(m: MandateIn, *, iid: uuid.UUID, provider_id: str, imp: uuid.UUID | None,
                received_at: datetime) -> MandateInstruction:
    return MandateInstruction(
        instruction_id=iid, provider_id=provider_id, import_id=imp, source=m.source, reference=m.reference,
        payer_name=m.payer_name, reason_code=m.reason_code, action=m.action, description=m.description,
        effective_date=m.effective_date, received_at=received_at, advice_sequence=m.advice_sequence,
        lodgement_serial=m.lodgement_serial, lodgement_file_number=m.lodgement_file_number,
        accepted_count=m.accepted_count, rejected_count=m.rejected_count, file_error_code=m.file_error_code)
