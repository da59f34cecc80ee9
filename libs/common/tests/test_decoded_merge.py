"""Batches written together commit the highest offset each partition reached, in fetch order."""
from aiokafka.structs import TopicPartition

from rentflow_common.consumer import Decoded


def test_merged_batches_keep_fetch_order_and_the_latest_offset_per_partition():
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    first = Decoded(["r1", "r2"], ["g1"], [("r2", "bad")], {a: 11, b: 4})
    second = Decoded(["r3"], ["g3"], [], {a: 15})
    third = Decoded(["r4"], ["g4"], [], {b: 9})
    merged = Decoded.merge([first, second, third])
    assert merged.records == ["r1", "r2", "r3", "r4"] and merged.good == ["g1", "g3", "g4"]
    assert merged.bad == [("r2", "bad")]
    assert merged.next_offsets == {a: 15, b: 9}
    assert Decoded.merge([first]) is first
