"""business_date keeps a London date per wall-clock minute of the instant's zone: it must give
what the zone conversion gives, across DST changes and London midnights, in any input zone."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter

from rentflow_ledger.domain.posting import LONDON, business_date

ZONES = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(dt.timedelta(hours=-1)),
         ZoneInfo("America/New_York"), LONDON]


@pytest.mark.parametrize("zone", ZONES, ids=str)
def test_business_date_is_the_london_date_of_the_instant(zone: dt.tzinfo) -> None:
    t = dt.datetime(2025, 3, 28, tzinfo=dt.timezone.utc)  # over the spring and autumn changes of 2025
    while t < dt.datetime(2025, 11, 3, tzinfo=dt.timezone.utc):
        for at in (t.astimezone(zone), (t + dt.timedelta(seconds=59, microseconds=999_999)).astimezone(zone)):
            assert business_date(at) == at.astimezone(LONDON).date(), at
        t += dt.timedelta(minutes=7)


def test_business_date_around_london_midnight_as_parsed_from_json() -> None:
    parse = TypeAdapter(dt.datetime).validate_json
    assert business_date(parse('"2026-06-30T22:59:59.999999Z"')) == dt.date(2026, 6, 30)  # BST: 23:59:59 London
    assert business_date(parse('"2026-06-30T23:00:00Z"')) == dt.date(2026, 7, 1)
    assert business_date(parse('"2026-12-31T23:59:59Z"')) == dt.date(2026, 12, 31)  # GMT
    assert business_date(parse('"2027-01-01T00:00:00+00:00"')) == dt.date(2027, 1, 1)
    assert business_date(parse('"2026-07-01T05:29:00+05:30"')) == dt.date(2026, 7, 1)  # 23:59 UTC, 00:59 London
    assert business_date(parse('"2026-07-01T03:29:00+05:30"')) == dt.date(2026, 6, 30)  # 21:59 UTC, 22:59 London
