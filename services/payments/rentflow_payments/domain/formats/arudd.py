"""format=arudd: Bacs ARUDD reports of unpaid Direct Debits; format=ddica: indemnity claims.
Both become `directdebit.returned.v1` (DOMAIN.md §3).

ARUDD (attributes in camelCase): `Header` (`currentProcessingDate`: the date the return is
reported on), then each `ReturnedDebitItem` (`ref`, `transCode`, `returnCode`,
`returnDescription`, `originalProcessingDate`, `valueOf` in pounds, `currency`, child
`PayerAccount` with `name`, `ref`) is one return; return codes are normalised (F21 → 1). Its
identity is reference + original processing date + amount (+ n for identical items in one report),
so the same item in a re-sent or re-issued report is the same return. `Totals@valueOf` is checked
against the items before it (a warning when it differs).

DDICA (elements): each `DDICAdvice` (`SeqNo`, `SUReference`, `ReasonCode`, `PayerName`,
`TotalAmount`, `DDCollections/DDCollection` each with a date — `DirectDebitDate`, `CollectionDate`
or `Date` — and an amount — `DirectDebitAmount`, `CollectionAmount` or `Amount`) becomes one return
per collection claimed (source "ddica"), with the DDICA reason mapped to the ARUDD code whose
follow-up fits (domain/bacs.py); identity SeqNo + collection number. Reported on the header's
`currentProcessingDate` (attribute) or `ProcessingDate` (element), else the claim's `DueDate`.
Payer bank details are never read."""
from __future__ import annotations

import datetime as dt
from typing import BinaryIO, Iterator

from rentflow_payments.domain.bacs import DDICA, normalise_return_code
from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, iso_date, normalise_reference, pounds_to_pence
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats._xml import Element, attr, check_well_formed, child, children, iter_items, text

_ARUDD = element("ARUDD")
_DDICA = element("DDICAdvice")


def sniff_arudd(head: bytes) -> bool:
    return bool(_ARUDD.search(head))


def sniff_ddica(head: bytes) -> bool:
    return bool(_DDICA.search(head))


def _pounds(value: str | None, field: str) -> int:
    pence = pounds_to_pence(value, field)
    if pence == 0:
        raise BadValue(f"{field}: must be more than 0")
    return pence


def parse_arudd(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    require(fp, _ARUDD, "an ARUDD report: no ARUDD element at its start")
    check_well_formed(fp, "ARUDD")
    occ = Occurrences()
    reported_on: dt.date | None = None
    n = block = grand = 0
    for name, el, _ in iter_items(fp, dict.fromkeys(("Header", "ReturnedDebitItem", "Totals"))):
        if name == "Header":
            if (day := attr(el, "currentProcessingDate")) is not None:
                try:
                    reported_on = iso_date(day, "Header currentProcessingDate")
                except BadValue as exc:
                    raise Unreadable(str(exc)) from None
            continue
        if name == "Totals":
            given = attr(el, "valueOf")
            if given is not None and n:
                try:
                    total = pounds_to_pence(given, "Totals valueOf")
                except BadValue:
                    total = -1
                if total not in (block, grand):
                    yield Parsed("item", n, type="warning",
                                 note=f"Totals valueOf {given} differs from the items before it ({block / 100:.2f})")
            block = 0
            continue
        n += 1
        if reported_on is None:
            if n == 1:
                raise Unreadable("the ARUDD report has no Header currentProcessingDate before its first item")
            yield Parsed("item", n, error="no Header currentProcessingDate")
            continue
        try:
            value = _returned_item(el, reported_on, occ)
        except (BadValue, ValueError) as exc:
            yield Parsed("item", n, error=str(exc))
            continue
        block += value["amount_pence"]
        grand += value["amount_pence"]
        yield Parsed("item", n, type="return", value=value)
    if n == 0:
        raise Unreadable("the ARUDD report has no ReturnedDebitItem")


def _returned_item(el: Element, reported_on: dt.date, occ: Occurrences) -> dict:
    payer = child(el, "PayerAccount")
    ref = attr(el, "ref") or (attr(payer, "ref") if payer is not None else None)
    if not ref:
        raise BadValue("ref: missing (the reference the collection was sent with)")
    currency = attr(el, "currency") or "GBP"
    if currency != "GBP":
        raise BadValue(f"currency: {currency!r}; only GBP")
    amount = _pounds(attr(el, "valueOf"), "valueOf")
    original = iso_date(attr(el, "originalProcessingDate"), "originalProcessingDate")
    raw = attr(el, "returnCode")
    return {"identity": "arudd|" + occ.key(normalise_reference(ref), original.isoformat(), amount),
            "source": "arudd", "reference": ref, "payer_name": clip(attr(payer, "name"), 140) if payer is not None else None,
            "amount_pence": amount, "return_code": normalise_return_code(raw), "return_code_raw": raw or "",
            "return_description": clip(attr(el, "returnDescription"), 140) or "",
            "transaction_code": attr(el, "transCode"), "original_processing_date": original,
            "reported_on": reported_on}


def parse_ddica(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    require(fp, _DDICA, "a DDICA report: no DDICAdvice element at its start")
    check_well_formed(fp, "DDICA")
    header_day: dt.date | None = None
    n = 0
    for name, el, _ in iter_items(fp, dict.fromkeys(("Header", "DDICAdvice"))):
        if name == "Header":
            day = attr(el, "currentProcessingDate") or text(el, "ProcessingDate")
            if day:
                try:
                    header_day = iso_date(day, "Header processing date")
                except BadValue as exc:
                    raise Unreadable(str(exc)) from None
            continue
        n += 1
        try:
            returns, warning = _claim(el, header_day)
        except (BadValue, ValueError) as exc:
            yield Parsed("item", n, error=str(exc))
            continue
        if warning:
            yield Parsed("item", n, type="warning", note=warning)
        for value in returns:
            yield Parsed("item", n, type="return", value=value)


def _claim(el: Element, header_day: dt.date | None) -> tuple[list[dict], str | None]:
    seq = text(el, "SeqNo")
    if not seq:
        raise BadValue("SeqNo: missing (the claim's unique number)")
    ref = text(el, "SUReference")
    if not ref:
        raise BadValue("SUReference: missing")
    code = (text(el, "ReasonCode") or "").lstrip("0") or "0"
    if code not in DDICA:
        raise BadValue(f"ReasonCode: {text(el, 'ReasonCode')!r} is not a DDICA reason code ({', '.join(DDICA)})")
    arudd_code, meaning = DDICA[code]
    due = text(el, "DueDate")
    reported = header_day or (iso_date(due, "DueDate") if due else None)
    if reported is None:
        raise BadValue("no processing date: neither the Header's nor the claim's DueDate")
    collections = children(child(el, "DDCollections"), "DDCollection")
    if not collections:
        raise BadValue("DDCollections: no DDCollection, so the collections claimed are unknown")
    out = []
    for k, c in enumerate(collections, 1):
        day = text(c, "DirectDebitDate") or text(c, "CollectionDate") or text(c, "Date")
        amount = text(c, "DirectDebitAmount") or text(c, "CollectionAmount") or text(c, "Amount")
        out.append({"identity": f"ddica|{seq}|{k}", "source": "ddica", "reference": ref,
                    "payer_name": clip(text(el, "PayerName"), 140), "amount_pence": _pounds(amount, f"DDCollection {k} amount"),
                    "return_code": arudd_code, "return_code_raw": f"DDICA {code}",
                    "return_description": f"indemnity claim: {meaning}",
                    "transaction_code": None, "original_processing_date": iso_date(day, f"DDCollection {k} date"),
                    "reported_on": reported})
    warning = None
    total = text(el, "TotalAmount")
    if total is not None:
        try:
            if pounds_to_pence(total, "TotalAmount") != sum(v["amount_pence"] for v in out):
                warning = f"TotalAmount {total} differs from the sum of its DDCollections"
        except BadValue as exc:
            warning = str(exc)
    return out, warning


register("arudd", parse_arudd, sniff=sniff_arudd, description="Bacs ARUDD report of unpaid Direct Debits (XML)")
register("ddica", parse_ddica, sniff=sniff_ddica, description="Bacs DDICA indemnity claims (XML), taken as unpaids")
