"""format=camt053 / camt052 / camt054: ISO 20022 bank-to-customer statements (`BkToCstmrStmt/Stmt`),
intraday account reports (`BkToCstmrAcctRpt/Rpt`) and debit/credit notifications
(`BkToCstmrDbtCdtNtfctn/Ntfctn`), any version (.001.02 to .001.13): one entry reader (docs/domain.md §3).

Every `Ntry` of every statement/report/notification is read; `NtryDtls/TxDtls` are its transactions
(an entry without TxDtls, or with only a `Btch` summary, is one transaction). Items are numbered by
transaction (`item` n = the n-th of the file; a skipped entry counts as one). A document with no
entries (a quiet day) is valid: no items.

Money: the booked entry amount `Ntry/Amt` (GBP) is the money that arrived. A lone transaction is
the entry's amount, whatever its `TxDtls` amounts say (`InstdAmt`, another currency); a warning when
its own GBP amount differs. A batch is split into its transactions only when each has its own amount
in the entry's currency (`TxDtls/Amt`, else `AmtDtls/TxAmt/Amt`; never `InstdAmt`) and they add up
to the entry; otherwise it is one item of the entry's amount, with a warning.

- Booked (`Sts` or `Sts/Cd` BOOK, or absent) credits → payments: channel standing_order for bank
  transaction code RCDT/STDO (or proprietary SO/STO/STDO), cash for CNTR, else bank_transfer; payer
  `RltdPties/Dbtr[/Pty]/Nm`; reference `RmtInf/Ustrd` (joined), else `Strd/CdtrRefInf/Ref`, else
  `AddtlTxInf`, else — for a lone transaction only — the entry's `AddtlNtryInf` (a batch's narrative
  is not each transaction's reference); paid on the value date (`ValDt`, else `BookgDt`), London.
  A transaction's own `BkTxCd` wins over the entry's. EndToEndId is kept to find the credit again.
  A credit recognised as a lump sum whose detail comes in its own file is marked `lump` (below).
- Credits returning money the landlord paid out (sub-family RRTN, or `RtrInf` present) are not
  rent → a reversal of kind outgoing_returned naming the bounced payment's EndToEndId/reference.
- A debit with `RvslInd` true takes back an earlier credit → a reversal (the ledger posts `RRC`),
  found by EndToEndId, else reference + payer name + amount.
- Other debits, reversals of debits, pending/info entries, zero entries: skipped and reported.
- Option `skip` (default: the setting RENTFLOW_STATEMENT_SKIP; RE2 syntax, rentflow_payments.domain.patterns): credits whose payer name or
  reference matches are skipped.

Identity (provider_ref), shared by the three messages so an entry notified (camt.054) or reported
intraday (camt.052) and then stated (camt.053) is one payment: `camt053:<AcctSvcrRef>` (+ `:k` for
the k-th transaction of a split batch); without the entry's AcctSvcrRef, the transaction's; without
either, `camt053:#<hash>|n` of the account, booking date, side, currency, amount, NtryRef, the
transaction's references (EndToEndId, TxId, InstrId, UETR), remittance reference and payer, n
numbering identical entries — never the entry's position, so statements re-sent in any order post
nothing twice. Account numbers only go into the hash.

Lump sums (`lump`, from codes first, then the narratives of reference, payer and entry):
dd_collection (family IDDT; "DIRECT DEBIT COLL…", "DD COLL…", "BACS DD"), interest (sub-family
INTR, proprietary INT/INTR; "INTEREST", "GROSS INT"), govuk_pay_payout ("GOV.UK PAY"),
card_settlement (family MCRD; Worldpay, Barclaycard, Elavon, Global Payments, Cardnet, Stripe,
Adyen, Paymentsense, "CARD SETTLEMENT"), cash_settlement (PayPoint, allpay, Post Office),
uc_managed_payment (DWP with UC/Universal Credit/APA/managed payment). A GOV.UK Pay payout or card
settlement whose narrative carries a Stripe payout id (`po_` + at least 14 letters and digits, e.g.
"GOV.UK PAY PO_1NxYzA2eZvKYlo2C") carries it as `payout_id`: the ledger matches the lump to exactly
the card payments of that payout."""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator, NamedTuple

from rentflow_payments.domain.formats import Options, Parsed, register
from rentflow_payments.domain.formats._common import LONDON, BadValue, Occurrences, clip, london_midnight, pounds_to_pence
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats._xml import Element, check_well_formed, child, children, iter_items, text
from rentflow_payments.domain.formats.bank_csv import skip_pattern
from rentflow_payments.domain.patterns import Pattern, linear
from rentflow_schemas.payments import PAYOUT_LUMPS

NOT_PROVIDED = {"NOTPROVIDED", "NONREF", ""}
PREFIX = "camt053:"  # the identity namespace of ISO 20022 bank entries, whichever message carries them


class Message(NamedTuple):
    root: str
    block: str
    label: str
    noun: str


MESSAGES = {"camt053": Message("BkToCstmrStmt", "Stmt", "camt.053", "statement"),
            "camt052": Message("BkToCstmrAcctRpt", "Rpt", "camt.052", "account report"),
            "camt054": Message("BkToCstmrDbtCdtNtfctn", "Ntfctn", "camt.054", "debit/credit notification")}


class Codes(NamedTuple):
    domain: str
    family: str
    sub_family: str
    proprietary: str


def codes_of(el: Element | None) -> Codes | None:
    box = child(el, "BkTxCd")
    if box is None:
        return None
    found = Codes(text(box, "Domn", "Cd") or "", text(box, "Domn", "Fmly", "Cd") or "",
                  text(box, "Domn", "Fmly", "SubFmlyCd") or "", (text(box, "Prtry", "Cd") or "").upper())
    return found if any(found) else None


def channel_of(codes: Codes | None) -> str:
    if codes is None:
        return "bank_transfer"
    if (codes.family == "RCDT" and codes.sub_family == "STDO") or codes.proprietary in ("SO", "STO", "STDO"):
        return "standing_order"
    if codes.family == "CNTR":
        return "cash"
    return "bank_transfer"


_NARRATIVES = [  # (lump, pattern over the upper-cased reference, payer and entry narrative); RE2: linear time
    ("interest", linear(r"\bINTEREST\b|\bGROSS\s+INT\b|\bCR(EDIT)?\s+INT\b")),
    ("dd_collection", linear(r"DIRECT\s*DEBIT\s*COLL|\bD/?D\s*COLL|\bBACS\s+D/?D\b|\bD/?D\s+(TOTAL|CONTRA)\b")),
    ("govuk_pay_payout", linear(r"\bGOV\s*\.?\s*UK\s*PAY\b")),
    ("card_settlement", linear(r"WORLDPAY|BARCLAYCARD|\bELAVON\b|GLOBAL\s*PAY|CARDNET|\bSTRIPE\b|\bADYEN\b|"
                                   r"PAYMENTSENSE|CARD\s+SETTLE|MERCHANT\s+SERV")),
    ("cash_settlement", linear(r"\bPAY\s*POINT\b|\bALL\s*PAY\b|\bPOST\s*OFFICE\b")),
    ("uc_managed_payment", linear(r"\bDWP\b.*\b(UC|UNIVERSAL\s+CREDIT|APA|MANAGED)\b|UNIVERSAL\s+CREDIT")),
]


def lump_of(codes: Codes | None, *narratives: str | None) -> str | None:
    """The kind of lump sum a credit is, or None for a single payment."""
    if codes is not None:
        if codes.sub_family == "INTR" or codes.proprietary in ("INT", "INTR"):
            return "interest"
        if codes.family == "IDDT":
            return "dd_collection"
        if codes.family == "MCRD":
            return "card_settlement"
    said = " ".join(n for n in narratives if n).upper()
    for lump, pattern in _NARRATIVES:
        if pattern.search(said):
            return lump
    return None


# a Stripe payout id (GOV.UK Pay's Stripe payouts, a landlord's own Stripe account): `po_` and 14 or more
# letters and digits (Stripe's are 24-30 characters in all: po_1NxYzA2eZvKYlo2C...); a bank may upper-case it
_PAYOUT_ID = linear(r"(?i)\b(po_[a-z0-9]{14,})")


def payout_of(*narratives: str | None) -> str | None:
    """The payout id a card settlement's statement narrative carries, as written there, or None."""
    for n in narratives:
        if n and (found := _PAYOUT_ID.search(n)):
            return found.group(1)
    return None


def _day(entry: Element) -> str:
    """The value (else booking) date as an ISO instant."""
    for box in ("ValDt", "BookgDt"):
        if (d := text(entry, box, "Dt")) is not None:
            try:
                return london_midnight(dt.date.fromisoformat(d[:10]))
            except ValueError:
                raise BadValue(f"{box}/Dt: {d!r} is not a date") from None
        if (t := text(entry, box, "DtTm")) is not None:
            try:
                at = dt.datetime.fromisoformat(t)
            except ValueError:
                raise BadValue(f"{box}/DtTm: {t!r} is not a date-time") from None
            return (at if at.tzinfo else at.replace(tzinfo=LONDON)).isoformat()
    raise BadValue("neither ValDt nor BookgDt: the entry has no date")


def _booked_on(entry: Element) -> str:
    for box in ("BookgDt", "ValDt"):
        d = text(entry, box, "Dt") or text(entry, box, "DtTm")
        if d:
            return d[:10]
    return ""


def _own_amount(tx: Element | None, ccy: str) -> int | None:
    """A transaction's own amount in the entry's currency, or None (none, another currency, not money)."""
    for path in (("Amt",), ("AmtDtls", "TxAmt", "Amt")):
        box = child(tx, *path)
        if box is not None and (box.get("Ccy") or ccy) == ccy:
            try:
                return pounds_to_pence(box.text, "TxDtls Amt")
            except BadValue:
                return None
    return None


def _reference(tx: Element | None, entry: Element, batch: bool) -> str:
    rmt = child(tx, "RmtInf")
    lines = [u.text.strip() for u in children(rmt, "Ustrd") if u.text and u.text.strip()]
    ref = " ".join(lines) or text(rmt, "Strd", "CdtrRefInf", "Ref") or text(tx, "AddtlTxInf") \
        or (None if batch else text(entry, "AddtlNtryInf")) or ""
    return clip(ref, 140) or ""


def _party(tx: Element | None, *roles: str) -> str | None:
    parties = child(tx, "RltdPties")
    for role in roles:
        for path in ((role, "Nm"), (role, "Pty", "Nm")):
            if (name := text(parties, *path)) is not None:
                return clip(name, 140)
    return None


def _refs(tx: Element | None) -> list[str]:
    return [text(tx, "Refs", name) or "" for name in ("EndToEndId", "TxId", "InstrId", "UETR")]


def _money(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


@dataclass
class _Context:
    account: str = ""  # the current statement's account (hashed into identities, never shown)
    occ: Occurrences = field(default_factory=Occurrences)


def _account_of(acct: Element) -> str:
    return "|".join(x or "" for x in (text(acct, "Id", "IBAN"), text(acct, "Id", "Othr", "Id"), text(acct, "Ccy")))


def _parser(name: str):
    msg = MESSAGES[name]
    pattern = element(msg.root)
    parents = frozenset({msg.block})

    def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
        require(fp, pattern, f"a {msg.label} {msg.noun}: no {msg.root} element at its start")
        check_well_formed(fp, msg.label)
        skip = skip_pattern(options)
        ctx = _Context()
        entries = items = 0
        for tag, el, _ in iter_items(fp, {"Acct": parents, "Ntry": parents}):
            if tag == "Acct":
                ctx.account = _account_of(el)
                continue
            entries += 1
            for parsed in _entry(el, entries, items, ctx, skip):
                items = max(items, parsed.position)
                yield parsed
    return parse


def _split(txs: list[Element], pence: int, ccy: str, where: str) -> tuple[list[tuple[Element | None, int]], str | None]:
    """(transaction, pence) items of an entry, and a warning; the amounts always add up to the entry."""
    if len(txs) <= 1:
        tx = txs[0] if txs else None
        own = _own_amount(tx, ccy)
        warning = (f"{where}: its transaction's amount {_money(own)} differs from the entry's {_money(pence)} "
                   f"{ccy}: the entry's is taken") if own is not None and own != pence else None
        return [(tx, pence)], warning
    own = [_own_amount(tx, ccy) for tx in txs]
    if all(a is not None for a in own) and sum(own) == pence:  # type: ignore[arg-type]
        return list(zip(txs, own)), None  # type: ignore[arg-type]
    why = (f"they add up to {_money(sum(own))}" if all(a is not None for a in own)  # type: ignore[arg-type]
           else f"not all have an amount in {ccy}")
    return [(None, pence)], (f"{where}: its {len(txs)} transactions are taken as one item of the entry's "
                             f"{_money(pence)} {ccy}: {why}")


def _entry(entry: Element, n: int, before: int, ctx: _Context, skip: Pattern | None) -> Iterator[Parsed]:
    ref = text(entry, "AcctSvcrRef")
    where = f"entry {n}" + (f" ({ref})" if ref else "")
    status = (text(entry, "Sts") or text(entry, "Sts", "Cd") or text(entry, "Sts", "Prtry") or "BOOK").upper()
    side = (text(entry, "CdtDbtInd") or "").upper()
    reversal = (text(entry, "RvslInd") or "").lower() in ("true", "1")
    if status != "BOOK":
        yield Parsed("item", before + 1, type="skipped", note=f"{where}: status {status}, not booked")
        return
    if side not in ("CRDT", "DBIT"):
        yield Parsed("item", before + 1, error=f"{where}: CdtDbtInd {side or 'missing'}; expected CRDT or DBIT")
        return
    if side == "DBIT" and not reversal:
        yield Parsed("item", before + 1, type="skipped", note=f"{where}: debit entry (money out), not a rent payment")
        return
    if side == "CRDT" and reversal:
        yield Parsed("item", before + 1, type="skipped", note=f"{where}: reversal of a debit entry, not a rent payment")
        return
    box = child(entry, "Amt")
    try:
        when = _day(entry)
        if box is None:
            raise BadValue("Amt: missing")
        ccy = box.get("Ccy") or "GBP"
        if ccy != "GBP":
            raise BadValue(f"Amt: currency {ccy!r}; only GBP")
        entry_pence = pounds_to_pence(box.text, "Amt")
    except BadValue as exc:
        yield Parsed("item", before + 1, error=f"{where}: {exc}")
        return
    if entry_pence == 0:
        yield Parsed("item", before + 1, type="skipped", note=f"{where}: amount 0, no money moved")
        return
    txs = [t for d in children(entry, "NtryDtls") for t in children(d, "TxDtls")]
    plan, warning = _split(txs, entry_pence, ccy, where)
    if warning:
        yield Parsed("item", before + 1, type="warning", note=warning)
    entry_codes, narrative = codes_of(entry), text(entry, "AddtlNtryInf")
    batch = len(plan) > 1
    for k, (tx, pence) in enumerate(plan, 1):
        position = before + k
        if pence == 0:
            yield Parsed("item", position, type="skipped", note=f"{where}: transaction {k} of 0, no money moved")
            continue
        codes = codes_of(tx) or entry_codes
        e2e = text(tx, "Refs", "EndToEndId")
        e2e = None if (e2e or "").upper() in NOT_PROVIDED else e2e
        reference = _reference(tx, entry, batch)
        own = ref or text(tx, "Refs", "AcctSvcrRef")
        if own:
            key = PREFIX + own + (f":{k}" if batch else "")
        else:
            content = [ctx.account, _booked_on(entry), side, ccy, str(pence), text(entry, "NtryRef") or "",
                       *_refs(tx), reference, _party(tx, "Dbtr", "Cdtr") or "", "" if tx is not None else narrative or ""]
            key = PREFIX + "#" + ctx.occ.key(hashlib.sha256("\x1f".join(content).encode()).hexdigest()[:32])
        if reversal:
            reason = text(tx, "RtrInf", "Rsn", "Cd") or text(tx, "RtrInf", "AddtlInf") or narrative
            yield Parsed("item", position, type="reversal", value={
                "identity": key[:400], "kind": "returned", "amount_pence": pence, "reversed_at": when,
                "reason": clip(f"bank reversal {reason}" if reason else "bank reversal", 140),
                "original": {"match_ref": e2e, "reference": reference, "payer_name": _party(tx, "Dbtr", "UltmtDbtr")}})
        elif (codes is not None and codes.sub_family == "RRTN") or child(tx, "RtrInf") is not None:
            why = " ".join(x for x in (text(tx, "RtrInf", "Rsn", "Cd") or text(tx, "RtrInf", "Rsn", "Prtry"),
                                       text(tx, "RtrInf", "AddtlInf")) if x)
            yield Parsed("item", position, type="reversal", value={
                "identity": key[:400], "kind": "outgoing_returned", "amount_pence": pence, "reversed_at": when,
                "reason": clip(f"payment returned {why}" if why else "payment returned", 140),
                "original": {"match_ref": e2e, "reference": reference, "payer_name": _party(tx, "Cdtr", "Dbtr")}})
        else:
            payer = _party(tx, "Dbtr", "UltmtDbtr")
            if skip is not None and (skip.search(reference) or skip.search(payer or "")):
                yield Parsed("item", position, type="skipped",
                             note=f"{where}: a settlement the skip pattern names: taken in from its own file")
                continue
            said = (reference, payer, narrative, text(tx, "AddtlTxInf"))
            lump = lump_of(codes, *said)
            yield Parsed("item", position, value={
                "provider_ref": key[:100], "channel": channel_of(codes), "amount_pence": pence, "currency": "GBP",
                "paid_at": when, "reference": reference, "payer_name": payer, "match_ref": e2e, "lump": lump,
                "payout_id": payout_of(*said) if lump in PAYOUT_LUMPS else None})


def _sniffer(root: str):
    pattern = element(root)
    return lambda head: bool(pattern.search(head))


for _name, _msg in MESSAGES.items():
    register(_name, _parser(_name), sniff=_sniffer(_msg.root), description=f"ISO 20022 {_msg.label} {_msg.noun} (XML)")
