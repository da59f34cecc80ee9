"""HMAC-SHA256 request signatures: `X-Signature: sha256=<hex>` over the raw body bytes."""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value a provider sends with `body`."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signer(secret: str) -> "hmac.HMAC":
    """An HMAC to feed a body chunk by chunk (file uploads); check it with `matches`."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def matches(mac: "hmac.HMAC", header: str) -> bool:
    """True when `header` is `sha256=<hex>` of what `mac` was fed; constant-time compare."""
    header = header.strip()
    if header[: len(PREFIX)].lower() != PREFIX:
        return False
    given = header[len(PREFIX):].strip().lower().encode("ascii", "replace")
    return hmac.compare_digest(given, mac.hexdigest().encode())


def verify(secret: str, body: bytes, header: str) -> bool:
    """True when `header` is `sha256=<hex>` of `body` keyed with `secret`."""
    return matches(hmac.new(secret.encode(), body, hashlib.sha256), header)
