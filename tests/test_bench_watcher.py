"""The e2e bench's watcher finds a payment's id and posting time in each event by a text search,
not a parse: checked here against events as the services write them."""
import datetime as dt
import sys
import uuid
from pathlib import Path

import orjson

from rentflow_common.events import Emitter
from rentflow_schemas.ledger import TransactionPosted

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from e2e import PAYMENT_ID, POSTED_AT, text_field  # noqa: E402

UTC = dt.timezone.utc


def posting(payment_id: uuid.UUID | None) -> bytes:
    at = dt.datetime(2026, 10, 7, 10, 0, 0, 123456, tzinfo=UTC)
    e = Emitter("ledger")
    txn = uuid.uuid4()
    e.emit_data(TransactionPosted, {
        "transaction_id": txn, "account_ref": "ACC-1", "type_code": "RCP", "amount_pence": -1234,
        "balance_after_pence": 100, "posted_at": at, "business_date": at.date(), "period": "2026-10",
        "source_ref": "bench:payment_id:1", "channel": "card", "payment_id": payment_id,
        "allocation_rule": "exact", "week_start": None}, identity=(txn,), key="ACC-1", cause=None, occurred_at=at)
    return e.emitted[0].payload


def test_the_watcher_reads_the_payment_id_and_posting_time_as_a_parse_would():
    pid = uuid.uuid4()
    value = posting(pid)
    data = orjson.loads(value)["data"]
    assert text_field(value, PAYMENT_ID) == data["payment_id"] == str(pid)
    assert dt.datetime.fromisoformat(text_field(value, POSTED_AT)) == dt.datetime.fromisoformat(data["posted_at"])


def test_a_posting_without_a_payment_is_not_counted():
    assert text_field(posting(None), PAYMENT_ID) is None
