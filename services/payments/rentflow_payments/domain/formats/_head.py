"""Recognising a document from its first bytes (for `format=auto` and for a clear refusal)."""
from __future__ import annotations

import re
from typing import BinaryIO

from rentflow_payments.domain.formats import Unreadable

HEAD = 64 << 10


def element(name: str) -> re.Pattern[bytes]:
    """An opening tag of `name`, with or without a namespace prefix."""
    return re.compile(rb"<([A-Za-z_][\w.-]*:)?" + name.encode() + rb"[\s/>]")


def require(fp: BinaryIO, pattern: re.Pattern[bytes], what: str) -> bytes:
    """The head of the file; Unreadable when `pattern` is not in it."""
    fp.seek(0)
    head = fp.read(HEAD)
    if not pattern.search(head):
        raise Unreadable(f"not {what}")
    return head
