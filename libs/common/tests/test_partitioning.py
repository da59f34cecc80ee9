"""The relay's murmur2 places every key where aiokafka (and the Java client) would."""
import random

from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from rentflow_common import partitioning
from rentflow_common.partitioning import murmur2


def test_compiled_murmur2_is_in_use() -> None:
    assert murmur2 is not partitioning.python_murmur2


def test_murmur2_equals_aiokafkas_on_random_keys() -> None:
    rnd = random.Random(20261204)
    keys = [rnd.randbytes(rnd.randrange(0, 100)) for _ in range(100_000)]
    keys += [b"", b"a", b"ab", b"abc", b"abcd", b"\xff" * 7, "10000123".encode(), "bench:x-1".encode()]
    mismatched = [k for k in keys if murmur2(k) != aiokafka_murmur2(k)]
    assert mismatched == []


def test_murmur2_known_values() -> None:
    # values from Kafka's own partitioner test (org.apache.kafka.common.utils.UtilsTest#testMurmur2)
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}
    for key, java in cases.items():
        assert murmur2(key) == java & 0xFFFFFFFF
