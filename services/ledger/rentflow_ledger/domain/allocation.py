"""Which rent account a payment belongs to (docs/design.md ledger rules: the allocation ladder).

Rungs, in order; the first that decides wins and its name is recorded on the posting:
1. `exact_reference`: the normalised reference is an account reference;
2. `dd_reference` (Direct Debit collections) / `so_reference` (standing orders): the normalised
   reference is the DD mandate / standing order reference of exactly one account;
3. `reference_in_text`: the tokens of the free text (words, digit runs) name exactly one
   account reference;
4. one correctable error — `corrected_transposition` (two adjacent characters swapped) or
   `corrected_digit` (one character wrong) — in the reference or in one of its tokens of 6 or
   more characters: exactly one account fits (and, with a check-digit scheme, passes it).
Otherwise suspense with the reason: "no reference", "no account matches reference …", or
"ambiguous: N candidates …". Ambiguity is never guessed: a rung that finds several accounts
stops the ladder."""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Container, Iterable, Mapping, NamedTuple, Sequence

from rentflow_ledger.domain.references import CheckScheme, normalise_reference, tokens
from rentflow_schemas.codes import MANUAL_ALLOCATION

EXACT_REFERENCE = "exact_reference"
DD_REFERENCE = "dd_reference"
SO_REFERENCE = "so_reference"
REFERENCE_IN_TEXT = "reference_in_text"
CORRECTED_TRANSPOSITION = "corrected_transposition"
CORRECTED_DIGIT = "corrected_digit"
MANUAL = MANUAL_ALLOCATION
MIN_CORRECTABLE = 6  # shorter tokens ("FLAT 12") fit too many references by one error

_DIGITS = string.digits
_ALNUM = string.ascii_uppercase + string.digits


class Allocation(NamedTuple):
    account_ref: str | None
    rule: str | None
    reason: str | None  # why it went to suspense


@dataclass
class ReferenceIndex:
    """Every known account reference and the DD/SO references that name accounts."""

    accounts: set[str] = field(default_factory=set)
    dd: dict[str, list[str]] = field(default_factory=dict)
    so: dict[str, list[str]] = field(default_factory=dict)
    lengths: set[int] = field(default_factory=set)  # one error never changes a reference's length

    @classmethod
    def build(cls, rows: Iterable[tuple[str, str | None, str | None]]) -> "ReferenceIndex":
        index = cls()
        for ref, dd, so in rows:
            index.accounts.add(ref)
            index.lengths.add(len(ref))
            if dd:
                index.dd.setdefault(dd, []).append(ref)
            if so:
                index.so.setdefault(so, []).append(ref)
        return index


def _ambiguous(candidates: Iterable[str], what: str) -> Allocation:
    c = sorted(set(candidates))
    shown = ", ".join(c[:5]) + (", …" if len(c) > 5 else "")
    return Allocation(None, None, f"ambiguous: {len(c)} candidates ({what}: {shown})")


def allocate(reference: str, channel: str, accounts: Container[str], dd_index: Mapping[str, Sequence[str]], *,
             normalised: str | None = None, so_index: Mapping[str, Sequence[str]] | None = None,
             index: ReferenceIndex | None = None, check: CheckScheme | None = None) -> Allocation:
    """Rungs 1–2 on `accounts`/`dd_index`/`so_index` (the receipts batch passes the full `index`'s);
    rungs 3–4 on the full `index` when given (else straight to suspense)."""
    ref = normalise_reference(reference) if normalised is None else normalised
    if not ref:
        return Allocation(None, None, "no reference")
    if ref in accounts:
        return Allocation(ref, EXACT_REFERENCE, None)
    for rung_channel, rung, idx in (("direct_debit", DD_REFERENCE, dd_index),
                                    ("standing_order", SO_REFERENCE, so_index or {})):
        if channel == rung_channel:
            candidates = idx.get(ref, ())
            if len(candidates) == 1:
                return Allocation(candidates[0], rung, None)
            if len(candidates) > 1:
                return _ambiguous(candidates, rung)
    if index is not None:
        found = allocate_fuzzy(reference, ref, index, check)
        if found is not None:
            return found
    return Allocation(None, None, f"no account matches reference {reference.strip()!r}")


def allocate_fuzzy(reference: str, ref: str, index: ReferenceIndex,
                   check: CheckScheme | None = None) -> Allocation | None:
    """Rungs 3 and 4 for a reference whose normalised form `ref` named no account exactly.
    None when neither finds anything."""
    words = tokens(reference)
    in_text = {t for t in words if t in index.accounts}
    if len(in_text) == 1:
        return Allocation(in_text.pop(), REFERENCE_IN_TEXT, None)
    if len(in_text) > 1:
        return _ambiguous(in_text, REFERENCE_IN_TEXT)
    found: dict[str, str] = {}
    lengths = index.lengths
    for text in dict.fromkeys([t for t in [ref] + [w for w in words if len(w) >= MIN_CORRECTABLE]
                               if len(t) in lengths]):
        for candidate, rule in one_error_candidates(text, index.accounts):
            if check is None or check.valid(candidate):
                found.setdefault(candidate, rule)
    if len(found) == 1:
        (candidate, rule), = found.items()
        return Allocation(candidate, rule, None)
    if len(found) > 1:
        return _ambiguous(found, "one correctable error")
    return None


def one_error_candidates(text: str, known: Container[str]) -> list[tuple[str, str]]:
    """Known references one adjacent transposition or one wrong character away from `text`
    (digits are replaced only by digits, letters by letters or digits)."""
    out: list[tuple[str, str]] = []
    n = len(text)
    for i in range(n - 1):
        a, b = text[i], text[i + 1]
        if a != b:
            swapped = text[:i] + b + a + text[i + 2:]
            if swapped in known:
                out.append((swapped, CORRECTED_TRANSPOSITION))
    for i, c in enumerate(text):
        head, tail = text[:i], text[i + 1:]
        for r in (_DIGITS if c.isdigit() else _ALNUM):
            if r != c:
                variant = head + r + tail
                if variant in known:
                    out.append((variant, CORRECTED_DIGIT))
    return out
