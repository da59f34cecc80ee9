"""Every topic: the model its events carry, who produces it, what keys it and what makes two
of its events the same event (their identity, from which the event id is derived)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable

from pydantic import BaseModel

from rentflow_schemas.envelope import derive_id_binary
from rentflow_schemas.directdebit import DdFailure, DirectDebitReturned, MandateChanged, MandateInstruction
from rentflow_schemas.identity import AuditEntry, UserChanged
from rentflow_schemas.ledger import (AccountUpserted, EndedTenancyPayment, JournalPosted, SuspenseEvent,
                                     TransactionPosted, UnreconciledItem)
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
    key: str  # what keys the topic, in words (AsyncAPI)
    description: str
    key_of: Callable[[Any], str]
    identity_of: Callable[[Any], tuple[object, ...]] | None = None  # None: the emitter gives it

    @cached_property
    def id_prefix(self) -> bytes:
        return self.event_type.encode() + b"\x1f"


def _account_or_reference(e: Any) -> str:
    return e.account_ref or e.reference


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in [
        TopicSpec("payments.received.v1", "payments.received", PaymentReceived, "payments",
                  "provider_id:provider_ref", "a payment taken in from any channel",
                  lambda e: f"{e.provider_id}:{e.provider_ref}", lambda e: (e.payment_id,)),
        TopicSpec("payments.rejected.v1", "payments.rejected", PaymentRejected, "payments",
                  "provider_id", "an input item refused, with where and why",
                  lambda e: e.provider_id),
        TopicSpec("payments.reversed.v1", "payments.reversed", PaymentReversed, "payments",
                  "provider_id:provider_ref", "money of an earlier payment went back: a bank reversal or a refund",
                  lambda e: f"{e.provider_id}:{e.provider_ref}", lambda e: (e.reversal_id,)),
        TopicSpec("directdebit.returned.v1", "directdebit.returned", DirectDebitReturned, "payments",
                  "reference", "an unpaid Direct Debit from an ARUDD report or indemnity claim",
                  lambda e: e.reference, lambda e: (e.return_id,)),
        TopicSpec("directdebit.mandates.v1", "directdebit.mandate_instruction", MandateInstruction, "payments",
                  "reference", "a mandate event from ADDACS, AUDDIS or a Standard 18 file",
                  lambda e: e.reference, lambda e: (e.instruction_id,)),
        TopicSpec("ledger.dd-failures.v1", "ledger.dd_failure", DdFailure, "ledger",
                  "account_ref", "an unpaid Direct Debit reversed on its account, with what should follow",
                  _account_or_reference, lambda e: (e.return_id,)),
        TopicSpec("ledger.mandates.v1", "ledger.mandate_changed", MandateChanged, "ledger",
                  "account_ref", "an account's Direct Debit mandate state changed",
                  _account_or_reference),
        TopicSpec("ledger.rent-changes.v1", "ledger.rent_changed", RentChanged, "ledger",
                  "account_ref", "a tenancy's weekly rent or charges changed from a date",
                  lambda e: e.account_ref, lambda e: (e.change_id,)),
        TopicSpec("notifications.notices.v1", "notifications.notice", NoticeEvent, "notifications",
                  "account_ref", "a notice to a tenant produced, delivered or refused",
                  lambda e: e.account_ref, lambda e: (e.notice_id, e.status, e.channel or "")),
        TopicSpec("ledger.transactions.v1", "ledger.transaction_posted", TransactionPosted, "ledger",
                  "account_ref", "a posting on a rent account",
                  lambda e: e.account_ref, lambda e: (e.transaction_id,)),
        TopicSpec("ledger.accounts.v1", "ledger.account_upserted", AccountUpserted, "ledger",
                  "account_ref", "a rent account as it now stands",
                  lambda e: e.account_ref),
        TopicSpec("ledger.suspense.v1", "ledger.suspense", SuspenseEvent, "ledger",
                  "payment_id", "an unallocated receipt opened or allocated",
                  lambda e: str(e.payment_id), lambda e: (e.action, e.payment_id)),
        TopicSpec("ledger.ended-tenancy-payments.v1", "ledger.ended_tenancy_payment", EndedTenancyPayment, "ledger",
                  "account_ref", "a payment posted to a tenancy that had ended before it was paid, to check",
                  lambda e: e.account_ref, lambda e: (e.transaction_id,)),
        TopicSpec("ledger.unreconciled.v1", "ledger.unreconciled", UnreconciledItem, "ledger",
                  "reference", "bank money or a Bacs report the ledger could not place on its own: a finance task",
                  lambda e: e.reference or str(e.item_id), lambda e: (e.item_id, e.action)),
        TopicSpec("gl.journals.v1", "gl.journal_posted", JournalPosted, "ledger",
                  "source_ref", "a balanced journal for finance",
                  lambda e: e.source_ref, lambda e: (e.journal_id,)),
        TopicSpec("notifications.tasks.v1", "notifications.task", TaskEvent, "notifications",
                  "task_id", "an officer task opened or changed",
                  lambda e: str(e.task_id)),
        TopicSpec("reporting.kpi-snapshots.v1", "reporting.kpi_snapshot", KpiSnapshot, "reporting",
                  "period", "a KPI snapshot for a period",
                  lambda e: e.period),
        TopicSpec("identity.users.v1", "identity.user_changed", UserChanged, "notifications",
                  "name", "a user as it now stands (roles, patches, limits, token hash, disabled)",
                  lambda e: e.name, lambda e: (e.name, e.version)),
        TopicSpec("audit.v1", "audit.entry", AuditEntry, "every service",
                  "service", "a state change made by a person or a system (who, role, what, before, after)",
                  lambda e: e.service, lambda e: (e.audit_id,)),
    ]
}

BY_MODEL: dict[type[BaseModel], TopicSpec] = {spec.model: spec for spec in TOPICS.values()}
assert len(BY_MODEL) == len(TOPICS), "each topic carries its own model"


def topic_spec(topic: str) -> TopicSpec:
    try:
        return TOPICS[topic]
    except KeyError:
        raise KeyError(f"unknown topic {topic!r}; known: {sorted(TOPICS)}") from None


def event_id_of(spec: TopicSpec, *identity: object) -> uuid.UUID:
    """The id of the event of this topic with this identity: the one derivation (uuid5-shaped, over
    the event type and the identity parts)."""
    return derive_id_binary(spec.id_prefix, identity)


def spec_of(event: BaseModel) -> TopicSpec:
    """The topic an event model belongs to."""
    try:
        return BY_MODEL[type(event)]
    except KeyError:
        raise TypeError(f"{type(event).__name__} is not the model of any topic") from None
