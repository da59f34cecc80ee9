"""What a consumer group has processed, per stream: sets of sequence numbers kept as ranges."""
from hypothesis import given
from hypothesis import strategies as st

from rentflow_common.progress import SeqSet


def test_in_order_numbers_stay_one_range():
    s = SeqSet()
    for n in range(1, 1001):
        assert n not in s
        s.add(n)
    assert s.flat() == [1, 1001] and s.missing() == 0 and 1000 in s and 1001 not in s


def test_out_of_order_numbers_fill_gaps_and_report_what_is_missing():
    s = SeqSet()
    for n in (1, 2, 5, 6, 9):
        s.add(n)
    assert s.flat() == [1, 3, 5, 7, 9, 10] and s.missing() == 4
    s.add(4)
    s.add(3)
    assert s.flat() == [1, 7, 9, 10] and s.missing() == 2
    s.add(8)
    s.add(7)
    assert s.flat() == [1, 10] and s.missing() == 0


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=300))
def test_a_set_holds_exactly_what_was_added_in_any_order(numbers):
    s = SeqSet()
    for n in numbers:
        s.add(n)
    assert all(n in s for n in numbers)
    assert not any(n in s for n in set(range(0, 202)) - set(numbers))
    flat = s.flat()
    assert flat == sorted(flat) and all(flat[i] < flat[i + 1] for i in range(len(flat) - 1))  # disjoint, not adjacent
    again = SeqSet(flat)
    assert again.flat() == flat


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=120))
def test_take_adds_and_says_whether_the_number_was_new(numbers):
    taken, added = SeqSet(), SeqSet()
    for n in numbers:
        was_new = n not in added
        added.add(n)
        assert taken.take(n) is was_new
        assert taken.flat() == added.flat()
