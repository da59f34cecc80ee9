"""Outbox rows for what the ledger emits. Payloads are serialised straight from plain values
with orjson (the hot path makes several per payment); the unit tests validate them against
the pydantic models in rentflow_schemas, which stay the one definition."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from rentflow_common.outbox import OutboxRow
from rentflow_ledger.domain.ids import derive_id
from rentflow_ledger.domain.posting import Journal, Transaction
from rentflow_schemas import TOPICS, derive_event_id

PRODUCER = "ledger"
TRANSACTIONS = "ledger.transactions.v1"
JOURNALS = "gl.journals.v1"
SUSPENSE = "ledger.suspense.v1"
ACCOUNTS = "ledger.accounts.v1"
DD_FAILURES = "ledger.dd-failures.v1"
MANDATES = "ledger.mandates.v1"
RENT_CHANGES = "ledger.rent-changes.v1"
ENDED_TENANCY_PAYMENTS = "ledger.ended-tenancy-payments.v1"


def event_row(topic: str, key: str, event_id: uuid.UUID, data: dict[str, Any], *, correlation_id: str,
              causation_id: uuid.UUID | None, occurred_at: dt.datetime) -> OutboxRow:
    event_type = TOPICS[topic].event_type
    payload = orjson.dumps({
        "event_id": event_id, "event_type": event_type, "schema_version": 1, "occurred_at": occurred_at,
        "correlation_id": correlation_id, "causation_id": causation_id, "producer": PRODUCER, "data": data})
    return OutboxRow(topic, key, payload, {"event_id": str(event_id), "event_type": event_type,
                                           "correlation_id": correlation_id})


def transaction_posted(t: Transaction, posted_at: dt.datetime, correlation_id: str,
                       causation_id: uuid.UUID | None) -> OutboxRow:
    data = {"transaction_id": t.transaction_id, "account_ref": t.account_ref, "type_code": t.type_code,
            "amount_pence": t.amount_pence, "balance_after_pence": t.balance_after_pence, "posted_at": posted_at,
            "business_date": t.business_date, "period": t.period, "source_ref": t.source_ref,
            "channel": t.channel, "payment_id": t.payment_id, "allocation_rule": t.allocation_rule,
            "week_start": t.week_start}
    return event_row(TRANSACTIONS, t.account_ref, derive_id(TRANSACTIONS, str(t.transaction_id)), data,
                     correlation_id=correlation_id, causation_id=causation_id, occurred_at=posted_at)


def journal_posted(j: Journal, posted_at: dt.datetime, correlation_id: str,
                   causation_id: uuid.UUID | None) -> OutboxRow:
    data = {"journal_id": j.journal_id, "business_date": j.business_date, "period": j.period,
            "posted_at": posted_at, "kind": j.kind, "source_ref": j.source_ref,
            "lines": [{"gl_code": x.gl_code, "debit_pence": x.debit_pence, "credit_pence": x.credit_pence,
                       "account_ref": x.account_ref} for x in j.lines]}
    return event_row(JOURNALS, j.source_ref, derive_id(JOURNALS, str(j.journal_id)), data,
                     correlation_id=correlation_id, causation_id=causation_id, occurred_at=posted_at)


def suspense_event(action: str, data: dict[str, Any], at: dt.datetime, correlation_id: str,
                   causation_id: uuid.UUID | None) -> OutboxRow:
    return event_row(SUSPENSE, str(data["payment_id"]), derive_event_id(SUSPENSE, action, data["payment_id"]),
                     data, correlation_id=correlation_id, causation_id=causation_id, occurred_at=at)


def account_upserted(data: dict[str, Any], version: int, content_hash: str, at: dt.datetime,
                     correlation_id: str) -> OutboxRow:
    ref = data["account_ref"]
    return event_row(ACCOUNTS, ref, derive_event_id(ACCOUNTS, ref, version, content_hash), data,
                     correlation_id=correlation_id, causation_id=None, occurred_at=at)


def dd_failure(data: dict[str, Any], correlation_id: str, causation_id: uuid.UUID | None) -> OutboxRow:
    return event_row(DD_FAILURES, data["account_ref"] or data["reference"],
                     derive_event_id(DD_FAILURES, data["return_id"]), data, correlation_id=correlation_id,
                     causation_id=causation_id, occurred_at=data["occurred_at"])


def mandate_changed(data: dict[str, Any], key: str, correlation_id: str,
                    causation_id: uuid.UUID | None) -> OutboxRow:
    return event_row(MANDATES, data["account_ref"] or data["reference"], derive_event_id(MANDATES, key), data,
                     correlation_id=correlation_id, causation_id=causation_id, occurred_at=data["occurred_at"])


def rent_changed(data: dict[str, Any], correlation_id: str) -> OutboxRow:
    return event_row(RENT_CHANGES, data["account_ref"], derive_event_id(RENT_CHANGES, data["change_id"]), data,
                     correlation_id=correlation_id, causation_id=None, occurred_at=data["occurred_at"])


def ended_tenancy_payment(t: Transaction, payment: Any, tenancy_end: dt.date, posted_at: dt.datetime,
                          correlation_id: str, causation_id: uuid.UUID | None) -> OutboxRow:
    """A receipt posted to a tenancy that had ended before it was paid (domain/tenancy.py)."""
    data = {"transaction_id": t.transaction_id, "payment_id": t.payment_id, "account_ref": t.account_ref,
            "amount_pence": -t.amount_pence, "channel": t.channel, "reference": payment.reference,
            "payer_name": payment.payer_name, "business_date": t.business_date, "tenancy_end": tenancy_end,
            "balance_after_pence": t.balance_after_pence, "posted_at": posted_at}
    return event_row(ENDED_TENANCY_PAYMENTS, t.account_ref, derive_id(ENDED_TENANCY_PAYMENTS, str(t.transaction_id)),
                     data, correlation_id=correlation_id, causation_id=causation_id, occurred_at=posted_at)
