"""Events emitted by intake, and the ids that make them idempotent. No IO.

Ids are derived from the input's identity: the same provider_ref from the same provider is the
same payment (and the same event) for ever; a rejected file item is identified by its import and
position.

`received_row` writes the envelope JSON with orjson directly (it runs once per payment on the hot
path); tests check it decodes to exactly what `new_envelope(PaymentReceived(...))` would carry.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson

from rentflow_common.outbox import OutboxRow, outbox_row
from rentflow_schemas import derive_event_id, new_envelope
from rentflow_schemas.envelope import RENTFLOW_NAMESPACE
from rentflow_schemas.directdebit import DirectDebitReturned, MandateInstruction
from rentflow_schemas.payments import ItemError, PaymentRejected, PaymentReversed

from rentflow_payments.domain.items import MandateIn, ReturnIn
from rentflow_payments.domain.model import PaymentIn

RECEIVED_TOPIC = "payments.received.v1"
REJECTED_TOPIC = "payments.rejected.v1"
RECEIVED_TYPE = "payments.received"
REJECTED_TYPE = "payments.rejected"
PRODUCER = "payments"
Source = Literal["push", "file", "webhook"]


_NAMESPACE = RENTFLOW_NAMESPACE.bytes
_VARIANT = "89ab89ab89ab89ab"


def derive_id(*parts: object) -> str:
    """`str(derive_event_id(*parts))` (uuid5 in the rentflow namespace), without building UUID
    objects: it runs twice per payment on the push path. Unit-tested against derive_event_id."""
    h = hashlib.sha1(_NAMESPACE + "\x1f".join([str(p) for p in parts]).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:32]}"


def payment_id(provider_id: str, provider_ref: str) -> str:
    return derive_id("payment", provider_id, provider_ref)


def received_event_id(pid: str | uuid.UUID) -> str:
    return derive_id("payments.received", pid)


def import_id(provider_id: str, sha256_hex: str) -> uuid.UUID:
    return derive_event_id("import", provider_id, sha256_hex)


def rejected_event_id(imp: uuid.UUID, kind: str, position: int) -> uuid.UUID:
    return derive_event_id("payments.rejected", imp, kind, position)


def received_row(p: PaymentIn, *, pid: str, provider_id: str, received_at: datetime, correlation_id: str,
                 source: Source, imp: uuid.UUID | None) -> OutboxRow:
    eid = received_event_id(pid)
    envelope: dict[str, Any] = {
        "event_id": eid,
        "event_type": RECEIVED_TYPE,
        "schema_version": 1,
        "occurred_at": received_at,
        "correlation_id": correlation_id,
        "causation_id": None,
        "producer": PRODUCER,
        "data": {
            "payment_id": pid,
            "provider_id": provider_id,
            "provider_ref": p.provider_ref,
            "channel": p.channel.value,
            "amount_pence": p.amount_pence,
            "currency": p.currency,
            "paid_at": p.paid_at,
            "received_at": received_at,
            "reference": p.reference,
            "payer_name": p.payer_name,
            "source": source,
            "import_id": imp,
            "lump": getattr(p, "lump", None),  # file payments only: a statement lump sum's kind
        },
    }
    return OutboxRow(topic=RECEIVED_TOPIC, key=f"{provider_id}:{p.provider_ref}", payload=orjson.dumps(envelope),
                     headers={"event_id": eid, "event_type": RECEIVED_TYPE, "correlation_id": correlation_id})


def rejected_row(*, provider_id: str, imp: uuid.UUID, kind: str, position: int, errors: list[dict[str, Any]],
                 provider_ref: str | None, received_at: datetime, correlation_id: str) -> OutboxRow:
    """payments.rejected.v1 for one bad file item; `kind` is "line" or "item"."""
    data = PaymentRejected(
        provider_id=provider_id, source="file", import_id=imp, provider_ref=provider_ref, received_at=received_at,
        errors=[ItemError(**{kind: position}, field=e.get("field"), reason=e["reason"]) for e in errors],
    )
    env = new_envelope(data, event_type=REJECTED_TYPE, event_id=rejected_event_id(imp, kind, position),
                       producer=PRODUCER, correlation_id=correlation_id, occurred_at=received_at)
    return outbox_row(REJECTED_TOPIC, provider_id, env)


# ---- Direct Debit reports, reversals --------------------------------------------------------

RETURNED_TOPIC = "directdebit.returned.v1"
MANDATES_TOPIC = "directdebit.mandates.v1"
REVERSED_TOPIC = "payments.reversed.v1"


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


def returned_row(r: ReturnIn, *, rid: uuid.UUID, provider_id: str, imp: uuid.UUID | None, received_at: datetime,
                 correlation_id: str) -> OutboxRow:
    data = DirectDebitReturned(
        return_id=rid, provider_id=provider_id, import_id=imp, source=r.source, reference=r.reference,
        payer_name=r.payer_name, amount_pence=r.amount_pence, return_code=r.return_code,
        return_code_raw=r.return_code_raw, return_description=r.return_description,
        transaction_code=r.transaction_code, original_processing_date=r.original_processing_date,
        reported_on=r.reported_on, received_at=received_at)
    env = new_envelope(data, event_type="directdebit.returned", event_id=derive_event_id("directdebit.returned", rid),
                       producer=PRODUCER, correlation_id=correlation_id, occurred_at=received_at)
    return outbox_row(RETURNED_TOPIC, r.reference, env)


def mandate_row(m: MandateIn, *, iid: uuid.UUID, provider_id: str, imp: uuid.UUID | None, received_at: datetime,
                correlation_id: str) -> OutboxRow:
    data = MandateInstruction(
        instruction_id=iid, provider_id=provider_id, import_id=imp, source=m.source, reference=m.reference,
        payer_name=m.payer_name, reason_code=m.reason_code, action=m.action, description=m.description,
        effective_date=m.effective_date, received_at=received_at, advice_sequence=m.advice_sequence,
        lodgement_serial=m.lodgement_serial, lodgement_file_number=m.lodgement_file_number,
        accepted_count=m.accepted_count, rejected_count=m.rejected_count, file_error_code=m.file_error_code)
    env = new_envelope(data, event_type="directdebit.mandate_instruction",
                       event_id=derive_event_id("directdebit.mandates", iid), producer=PRODUCER,
                       correlation_id=correlation_id, occurred_at=received_at)
    return outbox_row(MANDATES_TOPIC, m.reference, env)


def reversed_row(data: PaymentReversed, *, correlation_id: str) -> OutboxRow:
    env = new_envelope(data, event_type="payments.reversed", event_id=derive_event_id("payments.reversed",
                                                                                      data.reversal_id),
                       producer=PRODUCER, correlation_id=correlation_id, occurred_at=data.received_at)
    return outbox_row(REVERSED_TOPIC, f"{data.provider_id}:{data.provider_ref}", env)
