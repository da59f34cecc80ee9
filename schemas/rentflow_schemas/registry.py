"""Every topic, the model its events carry and what keys it."""
from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from rentflow_schemas.ledger import AccountUpserted, JournalPosted, SuspenseEvent, TransactionPosted
from rentflow_schemas.notifications import TaskEvent
from rentflow_schemas.payments import PaymentReceived, PaymentRejected
from rentflow_schemas.reporting import KpiSnapshot


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
        TopicSpec("ledger.transactions.v1", "ledger.transaction_posted", TransactionPosted, "ledger",
                  "account_ref", "a posting on a rent account"),
        TopicSpec("ledger.accounts.v1", "ledger.account_upserted", AccountUpserted, "ledger",
                  "account_ref", "a rent account as it now stands"),
        TopicSpec("ledger.suspense.v1", "ledger.suspense", SuspenseEvent, "ledger",
                  "payment_id", "an unallocated receipt opened or allocated"),
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
