"""Every topic, the model its events carry and what keys it."""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from rentflow_schemas.directdebit import DdFailure, DirectDebitReturned, MandateChanged, MandateInstruction
from rentflow_schemas.ledger import (AccountUpserted, EndedTenancyPayment, JournalPosted, SuspenseEvent,
                                     TransactionPosted)
from rentflow_schemas.notifications import TaskEvent
from rentflow_schemas.payments import PaymentReceived, PaymentRejected, PaymentReversed
from rentflow_schemas.reporting import KpiSnapshot
from rentflow_schemas.rents import NoticeEvent, RentChanged


@dataclass(frozen=True)
class TopicSpec:
    name: str
    event_type: str
    model: type[BaseModel]
    producer: str
    key: str
    description: str


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in [
        TopicSpec("payments.received.v1", "payments.received", PaymentReceived, "payments",
                  "provider_id:provider_ref", "a payment taken in from any channel"),
        TopicSpec("payments.rejected.v1", "payments.rejected", PaymentRejected, "payments",
                  "provider_id", "an input item refused, with where and why"),
        TopicSpec("payments.reversed.v1", "payments.reversed", PaymentReversed, "payments",
                  "provider_id:provider_ref", "money of an earlier payment went back: a bank reversal or a refund"),
        TopicSpec("directdebit.returned.v1", "directdebit.returned", DirectDebitReturned, "payments",
                  "reference", "an unpaid Direct Debit from an ARUDD report or indemnity claim"),
        TopicSpec("directdebit.mandates.v1", "directdebit.mandate_instruction", MandateInstruction, "payments",
                  "reference", "a mandate event from ADDACS, AUDDIS or a Standard 18 file"),
        TopicSpec("ledger.dd-failures.v1", "ledger.dd_failure", DdFailure, "ledger",
                  "account_ref", "an unpaid Direct Debit reversed on its account, with what should follow"),
        TopicSpec("ledger.mandates.v1", "ledger.mandate_changed", MandateChanged, "ledger",
                  "account_ref", "an account's Direct Debit mandate state changed"),
        TopicSpec("ledger.rent-changes.v1", "ledger.rent_changed", RentChanged, "ledger",
                  "account_ref", "a tenancy's weekly rent or charges changed from a date"),
        TopicSpec("notifications.notices.v1", "notifications.notice", NoticeEvent, "notifications",
                  "account_ref", "a notice to a tenant produced, delivered or refused"),
        TopicSpec("ledger.transactions.v1", "ledger.transaction_posted", TransactionPosted, "ledger",
                  "account_ref", "a posting on a rent account"),
        TopicSpec("ledger.accounts.v1", "ledger.account_upserted", AccountUpserted, "ledger",
                  "account_ref", "a rent account as it now stands"),
        TopicSpec("ledger.suspense.v1", "ledger.suspense", SuspenseEvent, "ledger",
                  "payment_id", "an unallocated receipt opened or allocated"),
        TopicSpec("ledger.ended-tenancy-payments.v1", "ledger.ended_tenancy_payment", EndedTenancyPayment, "ledger",
                  "account_ref", "a payment posted to a tenancy that had ended before it was paid, to check"),
        TopicSpec("gl.journals.v1", "gl.journal_posted", JournalPosted, "ledger",
                  "source_ref", "a balanced journal for finance"),
        TopicSpec("notifications.tasks.v1", "notifications.task", TaskEvent, "notifications",
                  "task_id", "an officer task opened or changed"),
        TopicSpec("reporting.kpi-snapshots.v1", "reporting.kpi_snapshot", KpiSnapshot, "reporting",
                  "period", "a KPI snapshot for a period"),
    ]
}


def topic_spec(topic: str) -> TopicSpec:
    try:
        return TOPICS[topic]
    except KeyError:
        raise KeyError(f"unknown topic {topic!r}; known: {sorted(TOPICS)}") from None
