"""format=arudd: Bacs ARUDD reports of unpaid Direct Debits; format=ddica: indemnity claims.
Both become `directdebit.returned.v1` (docs/domain.md §3). Codes: rentflow_schemas.bacs.

ARUDD (attributes in camelCase): `BACSDocument/Data/ARUDD` with `Header` (`currentProcessingDate`:
the date the return is reported on), `AddresseeInformation`, `ServiceLicenseInformation`, then
`Advice/OriginatingAccountRecords/OriginatingAccountRecord`s, each with `ReturnedDebitItem`s (`ref`,
`transCode`, `returnCode`, `returnDescription`, `originalProcessingDate`, `valueOf` in pounds,
`currency`, child `PayerAccount` with `name`, `ref`, bank details never read) and a `Totals`
(`valueOf`, checked: a warning when it differs). The item's own `ref` is the reference the
collection went with (PayerAccount's `ref` can differ, e.g. without a suffix); it is used only when
the item has none. `returnCode` is four characters in real reports (first character the reason:
`0128` → 0), or bureau-prefixed (`F21` → 1): a code not recognised (nor its returnDescription's
wording) is a warning and the item is still taken, with code `unknown` and the raw code kept. An item
is identified by reference + original processing date + amount (+ n for identical items in one
report), so the same item in a re-sent or re-issued report is the same return. A report with no
items is valid.

DDICA (elements; the layout public parsers read — so-sure's BacsService, a Django DD app):
`VocaDocument/Data/Document` with `ServiceUserNumber`, `NewAdvices` (`DateOfDebit`: the day the
claims are debited, the return's reported_on; `TotalValueOfDebits`, checked; then `DDICAdvice`s:
`SeqNo`, `PayingBankReference`, `SUReference`, `ReasonCode`, `ReasonCodeMeaning`, `PayerName`,
`TotalAmount`, `DDCollections/DDCollection` with `DateOfDirectDebit` and `Amount`) and
`Cancellations` (`TotalValueOfCancellations`, `DDICCancellation`s laid out as a DDICAdvice). Each
collection claimed is a return (source "ddica") with the DDICA reason mapped to the ARUDD code whose
follow-up fits; identity reference + PayingBankReference + collection date + amount (+ n). A claim
cancelled by the paying bank (`DDICCancellation`) is a return of the same collections with
`cancels_identity` naming the claim's return (identity `ddica-cancel|` + the claim's): the ledger
re-credits what the claim took, once. A report of cancellations only has no `NewAdvices` and so no
`DateOfDebit`: its cancellations are dated the day the file is read (a warning says so); their
identities do not depend on that date, so the report re-sent later is all duplicates. Amounts may carry thousands commas. Payer bank details are never read."""
from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO, Iterator
from zoneinfo import ZoneInfo

from rentflow_schemas.bacs import DDICA_REASONS, UNKNOWN_RETURN, normalise_return_code

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, iso_date, normalise_reference, pounds_to_pence
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats._xml import Element, attr, check_well_formed, child, children, iter_items, text

_ARUDD = element("ARUDD")
_DDICA = re.compile(rb"<([A-Za-z_][\w.-]*:)?(DDICAdvice|DDICCancellation|NewAdvices)[\s/>]")


LONDON = ZoneInfo("Europe/London")


def sniff_arudd(head: bytes) -> bool:
    return bool(_ARUDD.search(head))


def sniff_ddica(head: bytes) -> bool:
    return bool(_DDICA.search(head))


def _pounds(value: str | None, field: str) -> int:
    pence = pounds_to_pence(value, field)
    if pence == 0:
        raise BadValue(f"{field}: must be more than 0")
    return pence


def _money(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


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
                                 note=f"Totals valueOf {given} differs from the items before it ({_money(block)})")
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
        if value["return_code"] == UNKNOWN_RETURN:
            yield Parsed("item", n, type="warning",
                         note=f"returnCode {value['return_code_raw']!r} ({value['return_description'] or 'no description'}) "
                              "is not a known ARUDD reason: taken as a return with code unknown, to be read by a person")
        block += value["amount_pence"]
        grand += value["amount_pence"]
        yield Parsed("item", n, type="return", value=value)


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
    raw = attr(el, "returnCode") or ""
    description = clip(attr(el, "returnDescription"), 140) or ""
    return {"identity": "arudd|" + occ.key(normalise_reference(ref), original.isoformat(), amount),
            "source": "arudd", "reference": ref, "payer_name": clip(attr(payer, "name"), 140) if payer is not None else None,
            "amount_pence": amount, "return_code": normalise_return_code(raw, description) or UNKNOWN_RETURN,
            "return_code_raw": raw[:40], "return_description": description,
            "transaction_code": attr(el, "transCode"), "original_processing_date": original,
            "reported_on": reported_on}


_DDICA_ITEMS = {"DateOfDebit": frozenset({"NewAdvices"}), "TotalValueOfDebits": frozenset({"NewAdvices"}),
                "DDICAdvice": frozenset({"NewAdvices"}), "DDICCancellation": frozenset({"Cancellations"})}


def parse_ddica(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    require(fp, _DDICA, "a DDICA report: no NewAdvices, DDICAdvice or DDICCancellation element at its start")
    check_well_formed(fp, "DDICA")
    debit_day = _first_date_of_debit(fp)
    occ, cancelled_occ = Occurrences(), Occurrences()
    n = claimed = 0
    undated_cancellations: dt.date | None = None  # a report of cancellations only has no DateOfDebit
    total: str | None = None
    complete = True
    for name, el, _ in iter_items(fp, _DDICA_ITEMS):
        if name == "DateOfDebit":
            try:
                debit_day = iso_date(el.text, "NewAdvices DateOfDebit")
            except BadValue as exc:
                raise Unreadable(str(exc)) from None
            continue
        if name == "TotalValueOfDebits":
            total = (el.text or "").strip() or None
            continue
        n += 1
        cancelled = name == "DDICCancellation"
        day = debit_day
        if cancelled and day is None:
            if undated_cancellations is None:
                undated_cancellations = dt.datetime.now(LONDON).date()
                yield Parsed("item", n, type="warning",
                             note="no NewAdvices DateOfDebit (a report of cancellations only): the cancellations "
                                  f"are taken as reported on the day the file was read, {undated_cancellations}")
            day = undated_cancellations
        try:
            returns, warnings = _claim(el, day, cancelled_occ if cancelled else occ, cancelled=cancelled)
        except (BadValue, ValueError) as exc:
            complete = False
            yield Parsed("item", n, error=str(exc))
            continue
        for note in warnings:
            yield Parsed("item", n, type="warning", note=note)
        for value in returns:
            if not cancelled:
                claimed += value["amount_pence"]
            yield Parsed("item", n, type="return", value=value)
    if total is not None and complete:
        try:
            stated = pounds_to_pence(total, "TotalValueOfDebits")
        except BadValue:
            stated = -1
        if stated != claimed:
            yield Parsed("item", n, type="warning",
                         note=f"NewAdvices TotalValueOfDebits {total} differs from the claims ({_money(claimed)})")


def _first_date_of_debit(fp: BinaryIO) -> dt.date | None:
    """NewAdvices/DateOfDebit, read before the claims in case it follows them in the file."""
    for _, el, _ in iter_items(fp, {"DateOfDebit": frozenset({"NewAdvices"})}):
        try:
            return iso_date(el.text, "NewAdvices DateOfDebit")
        except BadValue as exc:
            raise Unreadable(str(exc)) from None
    return None


def _claim(el: Element, debit_day: dt.date | None, occ: Occurrences,
           cancelled: bool = False) -> tuple[list[dict], list[str]]:
    """The returns of one claim; of a cancelled claim (`cancelled`), the returns that undo each of its
    collections' returns: identity `ddica-cancel|` + the claim's, `cancels_identity` the claim's."""
    ref = text(el, "SUReference")
    if not ref:
        raise BadValue("SUReference: missing (the reference the collections were sent with)")
    if debit_day is None:
        raise BadValue("no NewAdvices DateOfDebit: the day the claim is debited is unknown")
    raw = text(el, "ReasonCode") or ""
    code = raw.lstrip("0") or raw
    reason = DDICA_REASONS.get(code)
    meaning = reason.meaning if reason else (text(el, "ReasonCodeMeaning") or "reason not recognised")
    bank_ref = text(el, "PayingBankReference") or ""
    collections = children(child(el, "DDCollections"), "DDCollection")
    if not collections:
        raise BadValue("DDCollections: no DDCollection, so the collections claimed are unknown")
    out = []
    for k, c in enumerate(collections, 1):
        day = iso_date(text(c, "DateOfDirectDebit"), f"DDCollection {k} DateOfDirectDebit")
        amount = _pounds(text(c, "Amount"), f"DDCollection {k} Amount")
        claim = "ddica|" + occ.key(normalise_reference(ref), bank_ref, day.isoformat(), amount)
        out.append({"identity": f"ddica-cancel|{claim}" if cancelled else claim,
                    **({"cancels_identity": claim} if cancelled else {}),
                    "source": "ddica", "reference": ref, "payer_name": clip(text(el, "PayerName"), 140),
                    "amount_pence": amount, "return_code": reason.return_code if reason else UNKNOWN_RETURN,
                    "return_code_raw": f"DDICA {raw}"[:40],
                    "return_description": (f"indemnity claim cancelled by the paying bank: {meaning}" if cancelled
                                           else f"indemnity claim: {meaning}")[:140],
                    "transaction_code": None, "original_processing_date": day, "reported_on": debit_day})
    warnings = []
    if reason is None:
        warnings.append(f"ReasonCode {raw!r} is not a known DDICA reason: the claim is taken as a return with code "
                        "unknown, to be read by a person")
    total = text(el, "TotalAmount")
    if total is not None:
        try:
            if pounds_to_pence(total, "TotalAmount") != sum(v["amount_pence"] for v in out):
                warnings.append(f"TotalAmount {total} differs from the sum of its DDCollections")
        except BadValue as exc:
            warnings.append(str(exc))
    return out, warnings


register("arudd", parse_arudd, sniff=sniff_arudd, description="Bacs ARUDD report of unpaid Direct Debits (XML)")
register("ddica", parse_ddica, sniff=sniff_ddica, description="Bacs DDICA indemnity claims (XML), taken as unpaids")
