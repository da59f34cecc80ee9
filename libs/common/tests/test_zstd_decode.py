"""The consumers' zstd decode (rentflow_common.kafka.zstd_decode): what aiokafka's gives, for any payload,
with its output allocated at the size the frame declares."""
from __future__ import annotations

import aiokafka.record.default_records as records
import cramjam
import pytest
from aiokafka.codec import zstd_decode as aiokafka_zstd_decode
from aiokafka.record.memory_records import MemoryRecords

from rentflow_common import kafka
from rentflow_common.kafka import zstd_content_size, zstd_decode
from rentflow_common.testing import envelope_row, payment_envelope

SIZES = [0, 1, 255, 256, 300, 65_791, 65_792, 70_000, 1 << 20]  # each width of the size field, with and without
# a window descriptor (single segment or not)


def _data(n: int) -> bytes:
    return bytes(i * 7 % 251 for i in range(n))


def _streamed(data: bytes) -> bytes:
    """A frame whose header declares no size (written as a stream)."""
    c = cramjam.zstd.Compressor()
    c.compress(data)
    return bytes(c.finish())


@pytest.mark.parametrize("n", SIZES)
def test_the_declared_size_is_the_frames_content(n):
    assert zstd_content_size(_frame(n)) == n


def test_no_declared_size():
    assert zstd_content_size(_streamed(_data(5000))) is None
    assert zstd_content_size(b"not zstd at all") is None
    assert zstd_content_size(b"\x28\xb5\x2f\xfd") is None  # cut short


def _frame(n: int) -> bytes:
    return bytes(cramjam.zstd.compress(_data(n), level=1))


def _declaring(frame: bytes, size: int) -> bytes:
    """`frame` with its header declaring `size` (its size field rewritten in place, same width)."""
    descriptor = frame[4]
    at = 5 + (0 if descriptor & 0x20 else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (1 if descriptor & 0x20 else 0, 2, 4, 8)[descriptor >> 6]
    return frame[:at] + (size - 256 if width == 2 else size).to_bytes(width, "little") + frame[at + width:]


SKIPPABLE = b"\x50\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"abcd"
PAYLOADS = {
    **{f"frame of {n}": _frame(n) for n in SIZES},
    "no declared size": _streamed(_data(70_000)),
    "an empty frame first": _frame(0) + _frame(300),
    **{f"{name} ({n})": payload(_frame(n), n) for n in (300, 70_000, 1 << 20) for name, payload in {
        # more than declared: the output grows past the first frame's size
        "another frame after": lambda f, n: f + _frame(300),
        "an empty frame after": lambda f, n: f + _frame(0),
        "a skippable frame after": lambda f, n: f + SKIPPABLE,
        "garbage after": lambda f, n: f + b"garbage!",
        "cut short": lambda f, n: f[:-3],
        # zstd refuses some and not others (1 MB): never an output padded to the declared size
        "declaring a byte more": lambda f, n: _declaring(f, n + 1),
        "declaring a byte less": lambda f, n: _declaring(f, n - 1),
    }.items()},
    "declaring more than is allocated up front": _declaring(_frame(1 << 20), kafka._ZSTD_PRESIZE_UP_TO + 1),
}


def _outcome(decode, payload: bytes) -> tuple[str, bytes | str]:
    try:
        return "decoded", bytes(decode(payload))
    except Exception as exc:  # noqa: BLE001 - the same refusal as aiokafka's
        return "refused", type(exc).__name__


@pytest.mark.parametrize("name", PAYLOADS)
def test_decodes_as_aiokafka_does(name):
    payload = PAYLOADS[name]
    assert _outcome(zstd_decode, payload) == _outcome(aiokafka_zstd_decode, payload)


def test_a_huge_declared_size_is_not_allocated_up_front(monkeypatch):
    seen = []
    monkeypatch.setattr(kafka, "_aiokafka_zstd_decode", lambda payload: seen.append(payload) or b"")
    payload = PAYLOADS["declaring more than is allocated up front"]
    zstd_decode(payload)
    assert seen == [payload]


@pytest.mark.parametrize("impl", ["c", "python"])
def test_aiokafkas_record_batches_decode_with_it(impl):
    """aiokafka reads a zstd record batch with its module's zstd_decode (kafka.py replaces it in both)."""
    if impl == "c":
        import aiokafka.record._crecords.default_records as module
    else:
        module = records
    assert module.zstd_decode is zstd_decode

    builder = records.DefaultRecordBatchBuilder(magic=2, compression_type=records.DefaultRecordBatch.CODEC_ZSTD,
                                                is_transactional=0, producer_id=-1, producer_epoch=-1,
                                                base_sequence=-1, batch_size=1 << 24)
    rows = [envelope_row("payments.received.v1", f"acct-{i % 7}", payment_envelope(i)) for i in range(300)]
    for i, row in enumerate(rows):
        builder.append(i, timestamp=1_700_000_000_000 + i, key=row.key.encode(), value=row.payload,
                       headers=[(k, v.encode()) for k, v in row.headers.items()])
    built = bytes(builder.build())
    if impl == "c":
        batch = MemoryRecords(built).next_batch()
    else:
        batch = records._DefaultRecordBatchPy(built)
    assert batch.compression_type == records.DefaultRecordBatch.CODEC_ZSTD
    assert [(r.key, r.value) for r in batch] == [(row.key.encode(), row.payload) for row in rows]
