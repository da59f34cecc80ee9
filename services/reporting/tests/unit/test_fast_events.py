"""Reporting's consumer takes its topics on the msgspec fast path: its handler reads a posting
decoded as a Struct exactly as it reads the pydantic model."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rentflow_common.consumer import envelope_model
from rentflow_common.fastdecode import fast_decoder, model_of
from rentflow_schemas import Envelope, topic_spec
from rentflow_schemas.ledger import TransactionPosted

from rentflow_reporting.entrypoints import consumers
from rentflow_reporting.service_layer import handlers

UTC = dt.timezone.utc


@pytest.mark.parametrize("channel", ["card", None])
def test_a_posting_struct_gives_the_same_posting_as_its_model(channel):
    event = TransactionPosted(
        transaction_id=uuid.uuid4(), account_ref="ACC1", type_code="RCP", amount_pence=-1200, balance_after_pence=300,
        posted_at=dt.datetime(2026, 10, 7, 10, 0, 0, 123456, tzinfo=UTC), business_date=dt.date(2026, 10, 7),
        period="2026-10", source_ref="p:1", channel=channel, allocation_rule="exact_reference")
    wire = Envelope[TransactionPosted](event_id=uuid.uuid4(), event_type="ledger.transaction_posted", schema_version=1,
                                       occurred_at=event.posted_at, correlation_id="c", producer="ledger",
                                       data=event).model_dump_json().encode()
    decoded = fast_decoder(envelope_model(TransactionPosted))(wire).data
    assert type(decoded) is not TransactionPosted and model_of(type(decoded)) is TransactionPosted
    assert type(decoded) is handlers._POSTED
    assert handlers._posting_of_struct(decoded) == handlers._posting(event)


def test_every_topic_reporting_takes_fast_has_a_struct():
    for topic in consumers.FAST:
        assert fast_decoder(envelope_model(topic_spec(topic).model)) is not None, topic
    assert all(s is not None for s in (handlers._POSTED, handlers._UPSERTED, handlers._SUSPENSE))
