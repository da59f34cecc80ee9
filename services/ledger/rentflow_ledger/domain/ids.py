"""Deterministic ids: exactly `rentflow_schemas.derive_event_id` (uuid5 in the rentflow
namespace over the parts joined by \\x1f), for parts already turned into strings. The
payments consumer derives two per payment; this skips the per-part str(), uuid5's extra work
and uuid.UUID's argument checks (about 4x faster), setting the version and variant bits
uuid5 sets. Unit-tested equal to uuid5."""
from __future__ import annotations

import uuid
from hashlib import sha1

from rentflow_schemas.envelope import RENTFLOW_NAMESPACE

_NS = RENTFLOW_NAMESPACE.bytes
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_SET = (0x5000 << 64) | (0x8000 << 48)  # version 5, RFC 4122 variant
_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def derive_id(*parts: str) -> uuid.UUID:
    n = (int.from_bytes(sha1(_NS + "\x1f".join(parts).encode()).digest()[:16], "big") & _CLEAR) | _SET
    u = _new(uuid.UUID)
    _set(u, "int", n)
    _set(u, "is_safe", _UNKNOWN)
    return u
