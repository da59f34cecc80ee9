import uuid

from hypothesis import given, strategies as st

from rentflow_ledger.domain.ids import derive_id
from rentflow_schemas import derive_event_id


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_derive_id_is_uuid5_of_the_parts(parts):
    got = derive_id(*parts)
    want = derive_event_id(*parts)
    assert got == want and str(got) == str(want) and hash(got) == hash(want)
    assert got.version == 5 and got.variant == uuid.RFC_4122 and isinstance(got, uuid.UUID)
