"""The stream and number a consumer recognises a message by, from the relay's headers."""
from rentflow_common.consumer import _sequence
from rentflow_common.progress import StreamKey

EPOCH = b"6d1c3f0e-5b7a-4c2e-9a51-2f0e8c1d7b44"


def test_the_relays_headers_in_its_order_or_any_other_give_the_same_stream_and_number():
    relay = [("event_id", b"x"), ("event_type", b"t"), ("rf-epoch", EPOCH), ("rf-stream", b"4"), ("rf-seq", b"17")]
    want = (StreamKey("t.v1", EPOCH.decode(), 4), 17)
    assert _sequence("t.v1", relay) == want
    assert _sequence("t.v1", list(reversed(relay))) == want


def test_missing_or_garbled_headers_mean_no_stream():
    assert _sequence("t.v1", None) == (None, 0)
    assert _sequence("t.v1", [("rf-epoch", EPOCH), ("rf-stream", b"4")]) == (None, 0)
    assert _sequence("t.v1", [("rf-epoch", EPOCH), ("rf-stream", b"x"), ("rf-seq", b"1")]) == (None, 0)
    assert _sequence("t.v1", [("rf-seq", b"1"), ("rf-epoch", EPOCH), ("rf-stream", b"nope")]) == (None, 0)


def test_a_stream_seen_again_or_on_another_topic_keeps_its_own_key():
    """The keys are made once per stream (a map of what was on the wire): a repeat gives the equal
    key, another topic or epoch another one, and a garbled stream is not remembered as good."""
    first = _sequence("a.v1", [("rf-epoch", EPOCH), ("rf-stream", b"2"), ("rf-seq", b"7")])
    again = _sequence("a.v1", [("rf-epoch", EPOCH), ("rf-stream", b"2"), ("rf-seq", b"8")])
    assert first[0] == again[0] and (first[1], again[1]) == (7, 8)
    other = _sequence("b.v1", [("rf-epoch", EPOCH), ("rf-stream", b"2"), ("rf-seq", b"7")])
    assert other[0] != first[0] and other[0].topic == "b.v1" and other[0].stream == 2
    assert _sequence("a.v1", [("rf-epoch", b"\xff"), ("rf-stream", b"2"), ("rf-seq", b"1")]) == (None, 0)
    assert _sequence("a.v1", [("rf-epoch", b"\xff"), ("rf-stream", b"2"), ("rf-seq", b"1")]) == (None, 0)
    mutable = [("rf-epoch", bytearray(EPOCH)), ("rf-stream", bytearray(b"2")), ("rf-seq", b"9")]
    assert _sequence("a.v1", mutable) == (first[0], 9)
