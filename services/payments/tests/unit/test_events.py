"""The hot path writes PaymentReceived envelopes with orjson; they must read back exactly as the
schema's own models would have written them."""
import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from rentflow_schemas import Envelope, derive_event_id, new_envelope
from rentflow_schemas.payments import PaymentReceived, PaymentRejected

from rentflow_payments.domain import events
from rentflow_payments.domain.model import ONE

NOW = dt.datetime(2026, 4, 6, 9, 0, 1, 123456, tzinfo=dt.timezone.utc)


def test_received_row_decodes_to_the_model_envelope():
    p = ONE.validate_python({"provider_ref": "r-1", "channel": "standing_order", "amount_pence": 9000,
                             "paid_at": "2026-04-05T23:30:00+01:00", "reference": "REF 123", "payer_name": None})
    pid = events.payment_id("bank", "r-1")
    imp = uuid.uuid4()
    row = events.received_row(p, pid=pid, provider_id="bank", received_at=NOW, correlation_id="c-1",
                              source="file", imp=imp)
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
    row = events.rejected_row(provider_id="p", imp=imp, kind="line", position=7,
                              errors=[{"field": "amount_pence", "reason": "bad"}], provider_ref="r7",
                              received_at=NOW, correlation_id="c")
    env = Envelope[PaymentRejected].model_validate_json(row.payload)
    assert env.event_id == events.rejected_event_id(imp, "line", 7)
    assert env.data.errors[0].line == 7 and env.data.errors[0].field == "amount_pence"
    assert env.data.source == "file" and env.data.import_id == imp


@given(st.lists(st.one_of(st.text(), st.integers(), st.uuids()), min_size=1, max_size=4))
def test_fast_ids_equal_derive_event_id(parts):
    assert events.derive_id(*parts) == str(derive_event_id(*parts))


def test_a_file_payment_carries_its_lump_kind_and_a_push_none():
    from rentflow_payments.domain.items import FILE_PAYMENT
    body = {"provider_ref": "camt053:X1", "channel": "bank_transfer", "amount_pence": 127412,
            "paid_at": "2026-10-05T00:00:00+01:00", "reference": "BACS DD COLLECTION"}
    for p, lump in ((FILE_PAYMENT.validate_python({**body, "lump": "dd_collection"}), "dd_collection"),
                    (ONE.validate_python(body), None)):
        row = events.received_row(p, pid=events.payment_id("bank", "camt053:X1"), provider_id="bank",
                                  received_at=NOW, correlation_id="c", source="file", imp=None)
        assert Envelope[PaymentReceived].model_validate_json(row.payload).data.lump == lump


def test_mandate_row_carries_a_lodgement_report():
    from rentflow_schemas.directdebit import MandateInstruction
    from rentflow_payments.domain.items import MANDATE
    m = MANDATE.validate_python({
        "identity": "auddis|1|AUDREJ|000028", "source": "auddis", "reference": "LODGEMENT 000028", "reason_code": "AUDREJ",
        "action": "lodgement_rejected", "description": "rejected", "effective_date": dt.date(2026, 5, 13),
        "advice_sequence": "1", "lodgement_serial": "000028", "lodgement_file_number": "028", "accepted_count": 0,
        "rejected_count": 3, "file_error_code": "30264"})
    row = events.mandate_row(m, iid=events.instruction_id(m.identity), provider_id="bacs", imp=None, received_at=NOW,
                             correlation_id="c")
    data = Envelope[MandateInstruction].model_validate_json(row.payload).data
    assert (data.action, data.lodgement_serial, data.rejected_count, data.file_error_code, row.key) == (
        "lodgement_rejected", "000028", 3, "30264", "LODGEMENT 000028")
