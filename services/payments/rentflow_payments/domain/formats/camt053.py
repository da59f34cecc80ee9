"""format=camt053: ISO 20022 bank-to-customer statements (DOMAIN.md §3).

Every `Stmt/Ntry` is read; `NtryDtls/TxDtls` are its transactions (an entry without TxDtls is one
transaction of the entry's amount). Items are numbered by transaction (`item` n = the n-th
transaction of the file; a skipped entry counts as one).

- Booked (`Sts` BOOK or absent) credits (`CdtDbtInd` CRDT) → payments: channel standing_order
  for bank transaction code family RCDT/sub-family STDO (or proprietary SO/STO/STDO), cash for
  CNTR (counter deposits), else bank_transfer; amount `TxDtls` `Amt` or `AmtDtls/TxAmt/Amt`
  (the entry's `Amt` for a lone transaction), GBP only; payer `RltdPties/Dbtr[/Pty]/Nm`;
  reference `RmtInf/Ustrd` (several joined by a space), else `RmtInf/Strd/CdtrRefInf/Ref`, else
  `AddtlTxInf` / `AddtlNtryInf`; paid at the value date (`ValDt`, else `BookgDt`), Europe/London.
  provider_ref `camt053:<AcctSvcrRef>` (+ `:k` for the k-th transaction of a bundled entry;
  without AcctSvcrRef: the statement `Id` and entry number), so a re-sent statement posts nothing
  new. EndToEndId is kept to find the credit again if it is reversed.
- Reversals: a debit entry with `RvslInd` true takes back an earlier credit → a reversal (the
  ledger posts `RRC`), found by EndToEndId, else reference + payer name + amount.
- Debit entries, reversals of debits and pending/info entries are skipped and reported.
- Option `skip` (env RENTFLOW_STATEMENT_SKIP, a regular expression): credits whose payer name or
  reference matches are skipped — lump-sum settlements of channels taken in from their own files.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO, Iterator

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import LONDON, BadValue, clip, london_midnight, pounds_to_pence
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats.bank_csv import skip_pattern
from rentflow_payments.domain.formats._xml import Element, check_well_formed, child, children, iter_items, text

_STMT = element("BkToCstmrStmt")
NOT_PROVIDED = {"NOTPROVIDED", "NONREF", ""}


def sniff(head: bytes) -> bool:
    return bool(_STMT.search(head))


def channel_of(entry: Element) -> str:
    fmly = text(entry, "BkTxCd", "Domn", "Fmly", "Cd")
    sub = text(entry, "BkTxCd", "Domn", "Fmly", "SubFmlyCd")
    prtry = (text(entry, "BkTxCd", "Prtry", "Cd") or "").upper()
    if (fmly == "RCDT" and sub == "STDO") or prtry in ("SO", "STO", "STDO"):
        return "standing_order"
    if fmly == "CNTR":
        return "cash"
    return "bank_transfer"


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


def _amount(box: Element | None, field: str) -> int:
    if box is None:
        raise BadValue(f"{field}: missing")
    if (box.get("Ccy") or "GBP") != "GBP":
        raise BadValue(f"{field}: currency {box.get('Ccy')!r}; only GBP")
    pence = pounds_to_pence(box.text, field)
    if pence == 0:
        raise BadValue(f"{field}: must be more than 0")
    return pence


def _tx_amount(tx: Element | None) -> Element | None:
    if tx is None:
        return None
    box = child(tx, "Amt")
    return box if box is not None else child(tx, "AmtDtls", "TxAmt", "Amt")


def _reference(tx: Element | None, entry: Element) -> str:
    rmt = child(tx, "RmtInf")
    lines = [u.text.strip() for u in children(rmt, "Ustrd") if u.text and u.text.strip()]
    ref = " ".join(lines) or text(rmt, "Strd", "CdtrRefInf", "Ref") or text(tx, "AddtlTxInf") \
        or text(entry, "AddtlNtryInf") or ""
    return clip(ref, 140) or ""


def _payer(tx: Element | None) -> str | None:
    parties = child(tx, "RltdPties")
    for path in (("Dbtr", "Nm"), ("Dbtr", "Pty", "Nm"), ("UltmtDbtr", "Nm"), ("UltmtDbtr", "Pty", "Nm")):
        if (name := text(parties, *path)) is not None:
            return clip(name, 140)
    return None


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    require(fp, _STMT, "a camt.053 statement: no BkToCstmrStmt element at its start")
    check_well_formed(fp, "camt.053")
    skip = skip_pattern(options)
    stmt_id = ""
    entries = items = 0
    for name, el, parent in iter_items(fp, {"Id": frozenset({"Stmt"}), "Ntry": None}):
        if name == "Id":
            stmt_id = (el.text or "").strip()
            continue
        entries += 1
        for parsed in _entry(el, entries, items, stmt_id, skip):
            items = max(items, parsed.position)
            yield parsed
    if entries == 0:
        raise Unreadable("the camt.053 statement has no entries (Ntry)")


def _entry(entry: Element, n: int, before: int, stmt_id: str, skip: re.Pattern[str] | None) -> Iterator[Parsed]:
    ref = text(entry, "AcctSvcrRef")
    where = f"entry {n}" + (f" ({ref})" if ref else "")
    status = (text(entry, "Sts") or text(entry, "Sts", "Cd") or "BOOK").upper()
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
    txs: list[Element | None] = [t for d in children(entry, "NtryDtls") for t in children(d, "TxDtls")] or [None]
    try:
        when = _day(entry)
        entry_pence = _amount(child(entry, "Amt"), "Amt")
    except BadValue as exc:
        yield Parsed("item", before + 1, error=f"{where}: {exc}")
        return
    channel = channel_of(entry)
    total = 0
    for k, tx in enumerate(txs, 1):
        position = before + k
        try:
            box = _tx_amount(tx)
            if box is None and len(txs) == 1:
                pence = entry_pence
            else:
                pence = _amount(box, f"TxDtls {k} Amt")
        except BadValue as exc:
            yield Parsed("item", position, error=f"{where}: {exc}")
            continue
        total += pence
        own = ref or text(tx, "Refs", "AcctSvcrRef") or f"{stmt_id}:entry{n}"
        key = "camt053:" + own + (f":{k}" if len(txs) > 1 else "")
        e2e = text(tx, "Refs", "EndToEndId")
        e2e = None if (e2e or "").upper() in NOT_PROVIDED else e2e
        reference, payer = _reference(tx, entry), _payer(tx)
        if reversal:
            reason = text(tx, "RtrInf", "Rsn", "Cd") or text(tx, "RtrInf", "AddtlInf") or text(entry, "AddtlNtryInf")
            yield Parsed("item", position, type="reversal", value={
                "identity": key[:400], "kind": "returned", "amount_pence": pence, "reversed_at": when,
                "reason": clip(f"bank reversal {reason}" if reason else "bank reversal", 140),
                "original": {"match_ref": e2e, "reference": reference, "payer_name": payer}})
        elif skip is not None and (skip.search(reference) or skip.search(payer or "")):
            yield Parsed("item", position, type="skipped",
                         note=f"{where}: a settlement the skip pattern names: taken in from its own file")
        else:
            yield Parsed("item", position, value={
                "provider_ref": key[:100], "channel": channel, "amount_pence": pence, "currency": "GBP",
                "paid_at": when, "reference": reference, "payer_name": payer, "match_ref": e2e})
    if len(txs) > 1 and total != entry_pence:
        yield Parsed("item", before + len(txs), type="warning",
                     note=f"{where}: its transactions total {total / 100:.2f}, the entry {entry_pence / 100:.2f}")


register("camt053", parse, sniff=sniff, description="ISO 20022 camt.053 bank statement (XML)")
