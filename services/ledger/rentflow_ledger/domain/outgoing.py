"""Money the landlord paid out that came back (payments.reversed.v1 kind `outgoing_returned`: a
statement credit with bank sub-family RRTN or return information): which refund bounced. Pure.

It is not rent and not suspense: it is the refund (an approved `rentflow adjust` refund, posted
`REF`) the bank could not pay, so the money goes back onto the account it left — the tenant is in
credit again — with the refund's journal the other way round (Dr bank, Cr debtors control).

The refund is found, in order, by:
1. the request id of the refund inside the returned payment's EndToEndId or reference (the id
   finance quoted when it paid: the whole uuid, or its first eight hex digits);
2. an account reference inside them, with exactly one refund of exactly that amount not already
   returned;
otherwise nobody can say whose it is: a finance task (ledger.unreconciled.v1)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Iterable, Sequence

from rentflow_ledger.domain.references import tokens

@dataclass(frozen=True)
class Refund:
    request_id: uuid.UUID
    account_ref: str
    amount_pence: int
    approved_on: dt.date


def find_refund(amount_pence: int, end_to_end_id: str | None, reference: str | None,
                refunds: Sequence[Refund], returned: Iterable[uuid.UUID] = ()) -> tuple[Refund | None, str]:
    """The refund this returned payment is, and the rule that found it (or why none)."""
    gone = set(returned)
    open_refunds = [r for r in refunds if r.request_id not in gone]
    said = " ".join(x for x in (end_to_end_id, reference) if x).lower()
    compact = said.replace("-", "")
    by_id = [r for r in open_refunds if r.request_id.hex[:8] in compact]
    if len(by_id) == 1:
        if by_id[0].amount_pence < amount_pence:
            return None, f"refund {by_id[0].request_id} was {by_id[0].amount_pence} pence, less than came back"
        return by_id[0], "refund id"
    words = set(tokens(said))
    by_account = [r for r in open_refunds if r.account_ref in words and r.amount_pence == amount_pence]
    if len(by_account) == 1:
        return by_account[0], "account reference and amount"
    if len(by_id) > 1 or len(by_account) > 1:
        return None, "more than one refund fits"
    return None, "no refund the ledger made fits its references and amount"
