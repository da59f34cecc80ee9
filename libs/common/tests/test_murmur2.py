"""The relay's murmur2 is Kafka's (aiokafka's), byte for byte: a key lands where any Kafka client puts it."""
import random

from aiokafka.partitioner import murmur2 as kafka_murmur2

from rentflow_common.outbox import murmur2


def test_murmur2_is_aiokafkas_for_every_length():
    rnd = random.Random(7)
    for length in range(0, 300):
        for _ in range(8):
            key = bytes(rnd.randrange(256) for _ in range(length))
            assert murmur2(key) == kafka_murmur2(key), key
    for key in (b"", b"a", b"R1", b"bench:abc123t-12345", "rent-\u00e9".encode(), b"\xff" * 257):
        assert murmur2(key) == kafka_murmur2(key), key
