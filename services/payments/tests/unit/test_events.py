"""What intake emits reads back exactly as the schema's own models would have written it, with
the ids derived from the input's identity."""
import datetime as dt
import uuid

from rentflow_common.events import encode
from rentflow_schemas import Envelope, new_envelope
from rentflow_schemas.payments import PaymentReceived, PaymentRejected

from rentflow_payments.domain import events
from rentflow_payments.domain.model import ONE

NOW = dt.datetime(2026, 4, 6, 9, 0, 1, 123456, tzinfo=dt.timezone.utc)


def test_received_row_decodes_to_the_model_envelope():
    p = ONE.validate_python({"provider_ref": "r-1", "channel": "standing_order", "amount_pence": 9000,
                             "paid_at": "2026-04-05T23:30:00+01:00", "reference": "REF 123", "payer_name": None})
    pid = events.payment_id("bank", "r-1")
    imp = uuid.uuid4()
    row = encode(events.received(p, pid=pid, provider_id="bank", received_at=NOW, source="file", imp=imp),
                 producer="payments", correlation_id="c-1", occurred_at=NOW)
    decoded = Envelope[PaymentReceived].model_validate_json(row.payload)
    expected = new_envelope(
        PaymentReceived(payment_id=pid, provider_id="bank", provider_ref="r-1", channel="standing_order",
                        amount_pence=9000, paid_at=p.paid_at, received_at=NOW, reference="REF 123",
                        source="file", import_id=imp),
        event_type="payments.received", event_id=events.received_event_id(pid), producer="payments",
        correlation_id="c-1", occurred_at=NOW)
    assert decoded == expected
    assert row.key == "bank:r-1" and row.topic == "payments.received.v1"
    assert row.headers == {"event_id": str(expected.event_id), "event_type": "payments.received",
                           "correlation_id": "c-1"}


def test_ids_are_derived_from_identity():
    assert events.payment_id("p", "r") == events.payment_id("p", "r")
    assert events.payment_id("p", "r") != events.payment_id("q", "r")
    assert events.import_id("p", "abc") == events.import_id("p", "abc")


def test_rejected_row_carries_where_and_why():
    imp = uuid.uuid4()
    event, identity = events.rejected(provider_id="p", imp=imp, kind="line", position=7,
                                      errors=[{"field": "amount_pence", "reason": "bad"}], provider_ref="r7",
                                      received_at=NOW)
    row = encode(event, producer="payments", correlation_id="c", identity=identity)
    env = Envelope[PaymentRejected].model_validate_json(row.payload)
    assert env.event_id == events.rejected_event_id(imp, "line", 7)
    assert env.data.errors[0].line == 7 and env.data.errors[0].field == "amount_pence"
    assert env.data.source == "file" and env.data.import_id == imp
