"""The relay's murmur2 is Kafka's (aiokafka's), byte for byte: a key lands where any Kafka client puts it.
Both the one in use (compiled) and the pure-Python fallback, for every key length."""
import random

from aiokafka.partitioner import murmur2 as kafka_murmur2

from rentflow_common.partitioning import murmur2, python_murmur2


def test_murmur2_is_aiokafkas_for_every_length():
    rnd = random.Random(7)
    keys = [bytes(rnd.randrange(256) for _ in range(length)) for length in range(0, 300) for _ in range(8)]
    keys += [b"", b"a", b"R1", b"bench:abc123t-12345", "rent-\u00e9".encode(), b"\xff" * 257]
    for hash_ in (murmur2, python_murmur2):
        assert [k for k in keys if hash_(k) != kafka_murmur2(k)] == [], hash_
