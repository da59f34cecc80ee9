import datetime as dt
import json
import uuid
from decimal import Decimal

from rentflow_reporting.domain.snapshot import content_hash, dumps, snapshot_event_id


def test_decimals_are_json_numbers_keeping_two_places():
    text = dumps({"a": Decimal("12.30"), "b": None, "c": [1, "x"], "d": dt.date(2026, 10, 1), "e": Decimal("0.00"),
                  "f": True, "u": uuid.UUID(int=1), "t": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)})
    assert '"a":12.30' in text and '"e":0.00' in text
    assert json.loads(text)["a"] == 12.3 and json.loads(text)["d"] == "2026-10-01"


def test_identical_figures_hash_alike_whenever_taken():
    a = {"period": "month", "period_start": dt.date(2026, 10, 1), "x": Decimal("1.00"), "as_of": dt.date(2026, 11, 1),
         "taken_at": dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)}
    b = {**a, "as_of": dt.date(2026, 11, 5), "taken_at": dt.datetime(2026, 11, 5, tzinfo=dt.timezone.utc)}
    c = {**a, "x": Decimal("1.01")}
    assert content_hash(a) == content_hash(b) != content_hash(c)
    assert snapshot_event_id("month", a["period_start"], content_hash(a)) == \
        snapshot_event_id("month", b["period_start"], content_hash(b))
