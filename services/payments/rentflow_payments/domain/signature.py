"""Provider request signatures (HMAC-SHA256 keyed with the provider's secret).

    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

`t` is when the request was signed: a signature more than MAX_SKEW_SECONDS from now is refused, so
a captured request cannot be replayed later; within the window the service refuses a request whose
provider, `t` and body it has seen before (adapters/repository.py, `signatures_seen`): a retry is
signed again, with its own `t`. Several `v1=` may be given (signed with each
secret during a rotation); one that matches a valid secret is enough.

The old form `sha256=<hex HMAC-SHA256 of the raw body>` has no time in it; it is accepted only for
providers registered with `legacy_signature` (see services/payments/README.md).

Nothing here says whether a provider exists: the caller checks a signature against a stand-in
secret for an unknown provider, and every failure after the header's form and time reads alike."""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Sequence

LEGACY_PREFIX = "sha256="
MAX_SKEW_SECONDS = 300
MAX_HEADER_CHARS = 1024
_HEX = frozenset("0123456789abcdef")


class Refused(Exception):
    """A signature that is not accepted; `str()` is the reason safe to answer with (it never depends on
    whether the provider exists)."""


MALFORMED = "X-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">"
STALE = f"signature time t is more than {MAX_SKEW_SECONDS // 60} minutes from now: sign each request when it is sent"
BAD = "bad signature, or unknown provider"
REPLAYED = ("this signed request was already received{at} (a replay): sign every request, retries included, "
            "with its own t; payments already received answer 202 with their ids when sent again under a new "
            "signature")
MISSING = "missing X-Signature or X-Provider-Id"


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed X-Signature: `t` and `v1` digests, or the legacy digest (t None)."""
    t: int | None
    digests: tuple[bytes, ...]

    @property
    def legacy(self) -> bool:
        return self.t is None

    def prefix(self) -> bytes:
        """What is signed before the body."""
        return b"" if self.t is None else f"{self.t}.".encode()


def _hex(value: str) -> bytes | None:
    v = value.strip().lower()
    if len(v) != 64 or not set(v) <= _HEX:
        return None
    return v.encode()


def parse(header: str | None, now: float | None = None) -> Header:
    """The header, or Refused (MALFORMED or STALE): decided from the header alone."""
    if not header:
        raise Refused(MISSING)
    header = header.strip()
    if len(header) > MAX_HEADER_CHARS:
        raise Refused(MALFORMED)
    if header[: len(LEGACY_PREFIX)].lower() == LEGACY_PREFIX:
        digest = _hex(header[len(LEGACY_PREFIX):])
        if digest is None:
            raise Refused(MALFORMED)
        return Header(None, (digest,))
    t: int | None = None
    digests: list[bytes] = []
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            raise Refused(MALFORMED)
        name = name.strip().lower()
        if name == "t":
            value = value.strip()
            if t is not None or not value.isascii() or not value.isdigit() or len(value) > 12:
                raise Refused(MALFORMED)
            t = int(value)
        elif name == "v1":
            digest = _hex(value)
            if digest is None:
                raise Refused(MALFORMED)
            digests.append(digest)
        # other schemes (v0, a future v2) are left for whoever knows them
    if t is None or not digests or len(digests) > 4:
        raise Refused(MALFORMED)
    if abs((time.time() if now is None else now) - t) > MAX_SKEW_SECONDS:
        raise Refused(STALE)
    return Header(t, tuple(digests))


class Verifier:
    """HMACs of `prefix + body` with each candidate secret, fed chunk by chunk (file uploads are
    streamed); `check` compares every digest with every MAC in constant time."""

    def __init__(self, secrets: Sequence[str], header: Header) -> None:
        self.header = header
        self._header = header
        self._macs = [hmac.new(s.encode(), header.prefix(), hashlib.sha256) for s in secrets]

    def update(self, chunk: bytes) -> None:
        for mac in self._macs:
            mac.update(chunk)

    def check(self, allowed: bool = True) -> None:
        """Refused(BAD) unless a digest matches and the form is `allowed` for this provider."""
        ok = False
        for mac in self._macs:
            expected = mac.hexdigest().encode()
            for given in self._header.digests:
                ok |= hmac.compare_digest(given, expected)
        if not (ok and allowed):
            raise Refused(BAD)


def sign(secret: str, body: bytes, t: int | None = None) -> str:
    """The X-Signature a provider sends with `body` (now, unless `t` is given)."""
    t = int(time.time()) if t is None else t
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def sign_legacy(secret: str, body: bytes) -> str:
    """The old `sha256=<hex>` form (providers registered with legacy_signature only)."""
    return LEGACY_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
