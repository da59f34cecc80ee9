"""Which rent account a payment belongs to (DESIGN.md ledger rules: the allocation ladder).

Implemented rungs, in order:
1. `exact_reference`: the normalised reference is an account reference;
2. `dd_reference`: for Direct Debit collections, the normalised reference is the (normalised)
   DD mandate reference of exactly one account.
Anything else goes to suspense with the reason. (Reference-inside-free-text and
one-correctable-error rungs are still to come.)"""
from __future__ import annotations

from typing import Container, Mapping, NamedTuple, Sequence

from rentflow_ledger.domain.references import normalise_reference

EXACT_REFERENCE = "exact_reference"
DD_REFERENCE = "dd_reference"
MANUAL = "manual"


class Allocation(NamedTuple):
    account_ref: str | None
    rule: str | None
    reason: str | None  # why it went to suspense


def allocate(reference: str, channel: str, accounts: Container[str],
             dd_index: Mapping[str, Sequence[str]], *, normalised: str | None = None) -> Allocation:
    """`accounts`: known account references; `dd_index`: normalised DD reference → account refs;
    `normalised`: the reference already normalised, when the caller has it."""
    ref = normalise_reference(reference) if normalised is None else normalised
    if not ref:
        return Allocation(None, None, "no reference")
    if ref in accounts:
        return Allocation(ref, EXACT_REFERENCE, None)
    if channel == "direct_debit":
        candidates = dd_index.get(ref, ())
        if len(candidates) == 1:
            return Allocation(candidates[0], DD_REFERENCE, None)
        if len(candidates) > 1:
            return Allocation(None, None, f"DD reference {reference.strip()!r} matches {len(candidates)} accounts")
    return Allocation(None, None, f"no account matches reference {reference.strip()!r}")
