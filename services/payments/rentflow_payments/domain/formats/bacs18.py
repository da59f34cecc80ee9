"""format=bacs18: a Bacs Standard 18 collection file (docs/domain.md §3).

100-character data records (106 in multi-day files, the last six ` YYDDD` the record's processing
date), with or without VOL1/HDR1/HDR2/UHL1 … EOF1/EOF2/UTL1 labels, CRLF or LF. Trailing spaces
may have been trimmed (a record of 82–99 characters is padded back to 100).

- 01, 17, 18, 19 collections → Direct Debit payments on their processing date (the ledger posts
  `RDD`), `reference` = the record's reference field (the mandate reference), channel direct_debit;
  provider_ref `bacs18:DATE|REFERENCE|PENCE|n` (n numbers identical collections in the file).
- 0N, 0C, 0S → mandate instructions (new, cancelled, converted); their amount must be 0. They carry
  the VOL1 label's volume serial number (`lodgement_serial`), which AUDACC/AUDREJ reports name.
- Contra records (code 99 balancing the collections, code 17 balancing direct credits; a contra is
  a record paying the originator's own account, or with a reference starting CONTRA) are checked
  against the items since the previous contra and never posted: a mismatch is a warning.
  UTL1 value totals are checked the same way.
- 99 direct credits (refunds paid out) are skipped and reported: a refund is posted when it is
  approved in the ledger (`rentflow adjust request --type refund`), not again from its Bacs file.

The processing date of a record: its own (106-character records), else the last UHL1 label's,
else the import option `processing_date=YYYY-MM-DD`; a file leaving any record without one is
unreadable. Bank details (sort codes, account numbers) are checked, never kept or echoed.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO, Iterator

from rentflow_schemas.bacs import COLLECTIONS, DIRECT_CREDIT, INSTRUCTIONS

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import Occurrences, iso_date, london_midnight, normalise_reference

MAX_LINE = 200
_LABEL = re.compile(r"^(VOL|HDR|UHL|EOF|EOV|UTL)\d")
_RECORD_HEAD = re.compile(rb"^\d{14}\d(01|17|18|19|99|0N|0C|0S)\d{14}")
_BACS_TEXT = re.compile(r"[^A-Z0-9.&/\- ]")
CODES = set(COLLECTIONS) | set(INSTRUCTIONS) | {DIRECT_CREDIT}


def sniff(head: bytes) -> bool:
    first = head.lstrip(b"\r\n ").split(b"\n", 1)[0]
    return first[:4] in (b"VOL1", b"HDR1", b"UHL1") or bool(_RECORD_HEAD.match(first))


def yyddd(text: str) -> dt.date | None:
    """` YYDDD` (Bacs processing day: year 20YY, day of the year) → date; None when not one."""
    t = text.strip()
    if len(t) != 5 or not t.isdigit():
        return None
    year, day = 2000 + int(t[:2]), int(t[2:])
    if not 1 <= day <= (366 if year % 4 == 0 else 365):
        return None
    return dt.date(year, 1, 1) + dt.timedelta(days=day - 1)


def _lines(fp: BinaryIO) -> Iterator[tuple[int, str | None]]:
    fp.seek(0)
    lineno = 0
    while line := fp.readline(MAX_LINE + 1):
        lineno += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while (rest := fp.readline(1 << 16)) and not rest.endswith(b"\n"):
                pass
            yield lineno, None
            continue
        try:
            yield lineno, line.rstrip(b"\r\n").decode("ascii")
        except UnicodeDecodeError:
            yield lineno, None


def _survey(fp: BinaryIO, option_date: dt.date | None) -> None:
    """The whole file once, before anything is yielded: is it Standard 18, complete, and does
    every record have a processing date?"""
    first = True
    labelled = trailer = uhl = False
    undated = None
    for lineno, text in _lines(fp):
        if text is not None and not text.strip():
            continue
        is_label = text is not None and bool(_LABEL.match(text))
        if first:
            if not is_label and (text is None or not _RECORD_HEAD.match(text.encode())):
                raise Unreadable(f"not a Bacs Standard 18 file: line {lineno} is neither a label (VOL1, HDR1, "
                                 "UHL1, ...) nor a 100/106-character data record")
            labelled = is_label and text[:4] in ("VOL1", "HDR1")  # type: ignore[index]
            first = False
        if is_label:
            tag = text[:4]  # type: ignore[index]
            uhl = uhl or (tag == "UHL1" and yyddd(text[4:10]) is not None)  # type: ignore[index]
            trailer = trailer or tag in ("EOF1", "UTL1")
        elif text is not None and len(text) < 106 and not uhl and undated is None:
            undated = lineno
    if first:
        raise Unreadable("the file is empty")
    if labelled and not trailer:
        raise Unreadable("the file has header labels but no EOF1/UTL1 trailer: it looks truncated")
    if undated is not None and option_date is None:
        raise Unreadable(f"no processing date for the record on line {undated}: the file has no UHL1 label and "
                         "its records are 100 characters; import it with processing_date=YYYY-MM-DD")


class _Totals:
    def __init__(self) -> None:
        self.pence = 0
        self.count = 0
        self.line: int | None = None

    def add(self, pence: int, line: int) -> None:
        self.pence += pence
        self.count += 1
        self.line = self.line or line


def _pounds(pence: int) -> str:
    return f"£{pence // 100:,}.{pence % 100:02d}"


def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    option = (options or {}).get("processing_date")
    option_date = None
    if option:
        try:
            option_date = iso_date(option, "processing_date")
        except ValueError as exc:
            raise Unreadable(str(exc)) from None
    _survey(fp, option_date)
    occ = Occurrences()
    uhl_date: dt.date | None = None
    serial: str | None = None  # VOL1 volume serial number: the lodgement AUDDIS reports name
    debits, credits = _Totals(), _Totals()  # since the last contra of each kind
    utl_debits = utl_credits = 0  # since the last header, for UTL1
    contras = 0
    for lineno, text in _lines(fp):
        if text is None:
            yield Parsed("line", lineno, error="not a Standard 18 record: not ASCII text, or far too long")
            continue
        if not text.strip():
            continue
        if _LABEL.match(text):
            tag = text[:4]
            if tag == "VOL1":
                serial = text[4:10].strip() or None
            elif tag == "HDR1":
                utl_debits = utl_credits = 0
            elif tag == "UHL1":
                uhl_date = yyddd(text[4:10])
                if uhl_date is None:
                    yield Parsed("line", lineno, type="warning",
                                 note="UHL1 processing date (columns 6–10, YYDDD) is not a date")
            elif tag == "UTL1":
                yield from _check_utl(lineno, text, utl_debits, utl_credits)
            continue
        rec, error = _record(text)
        if error:
            yield Parsed("line", lineno, error=error)
            continue
        code, amount = rec["code"], rec["amount"]
        if code == DIRECT_CREDIT:
            utl_credits += amount
        elif code in COLLECTIONS:
            utl_debits += amount
        day = (yyddd(text[100:106]) if len(text) >= 106 else None) or uhl_date or option_date
        if len(text) >= 106 and yyddd(text[100:106]) is None:
            yield Parsed("line", lineno, error="processing date (columns 101–106, ' YYDDD') is not a date")
            continue
        if rec["contra"]:
            contras += 1
            if code not in (DIRECT_CREDIT, "17"):
                yield Parsed("line", lineno, error=f"contra record with transaction code {code}: contras are 99 or 17")
                continue
            block, what = (debits, "collections") if code == DIRECT_CREDIT else (credits, "direct credits")
            if block.pence != amount:
                yield Parsed("line", lineno, type="warning",
                             note=f"contra record of {_pounds(amount)} does not match the {block.count} {what} "
                                  f"before it ({_pounds(block.pence)})")
            if code == DIRECT_CREDIT:
                debits = _Totals()
            else:
                credits = _Totals()
            yield Parsed("line", lineno, type="skipped", note=f"contra record ({_pounds(amount)}): checked, not posted")
            continue
        if day is None:  # _survey makes this rare: a UHL1 later in the file had no readable date
            yield Parsed("line", lineno, error="no processing date: no UHL1 date before this 100-character record")
            continue
        ref = rec["reference"]
        if code in COLLECTIONS:
            if amount == 0:
                yield Parsed("line", lineno, error="amount (columns 36–46) must be more than 0 for a collection")
                continue
            if not ref:
                yield Parsed("line", lineno, error="reference (columns 65–82) is blank: the mandate cannot be found")
                continue
            debits.add(amount, lineno)
            yield Parsed("line", lineno, value={
                "provider_ref": "bacs18:" + occ.key(day.isoformat(), normalise_reference(ref), amount),
                "channel": "direct_debit", "amount_pence": amount, "currency": "GBP",
                "paid_at": london_midnight(day), "reference": ref, "payer_name": rec["payer_name"]})
        elif code in INSTRUCTIONS:
            if amount != 0:
                yield Parsed("line", lineno, error=f"instruction records ({code}) must have amount 0")
                continue
            if not ref:
                yield Parsed("line", lineno, error="reference (columns 65–82) is blank")
                continue
            action, meaning = INSTRUCTIONS[code]
            yield Parsed("line", lineno, type="mandate", value={
                "identity": "bacs18|" + occ.key(code, normalise_reference(ref), day.isoformat()),
                "source": "bacs18", "reference": ref, "payer_name": rec["payer_name"], "reason_code": code,
                "action": action, "description": meaning, "effective_date": day, "lodgement_serial": serial})
        else:  # a direct credit
            credits.add(amount, lineno)
            yield Parsed("line", lineno, type="skipped",
                         note=f"direct credit (code 99, {_pounds(amount)}): a refund paid out, posted when approved "
                              "in the ledger, not from the Bacs file")
    if contras:
        for block, what in ((debits, "collection"), (credits, "direct credit")):
            if block.count:
                yield Parsed("line", block.line or 0, type="warning",
                             note=f"{block.count} {what}(s) totalling {_pounds(block.pence)} from this line on "
                                  "have no contra record")


def _record(text: str) -> tuple[dict, str | None]:
    """The fields of a data record, or the reason it is not one. Columns are 1-based in messages."""
    if 82 <= len(text) < 100:
        text = text.ljust(100)
    if len(text) not in (100, 106):
        return {}, f"record is {len(text)} characters; Standard 18 records are 100 or 106"
    for start, end, name in ((0, 6, "payer sort code"), (6, 14, "payer account number"),
                             (17, 23, "originator sort code"), (23, 31, "originator account number"),
                             (35, 46, "amount")):
        if not text[start:end].isdigit():
            return {}, f"{name} (columns {start + 1}–{end}) must be {end - start} digits"
    code = text[15:17]
    if code not in CODES:
        return {}, (f"transaction code {code!r} (columns 16–17) is not a Standard 18 code "
                    f"({', '.join(sorted(CODES))})")
    for start, end, name in ((46, 64, "originator name"), (64, 82, "reference"), (82, 100, "payer name")):
        bad = _BACS_TEXT.search(text, start, end)
        if bad:
            return {}, (f"{name} (columns {start + 1}–{end}) has {bad.group()!r} at column {bad.start() + 1}: "
                        "Bacs allows A–Z 0–9 . & / - and space")
    reference = text[64:82].strip()
    contra = text[0:14] == text[17:31] or reference.startswith("CONTRA")
    return {"code": code, "amount": int(text[35:46]), "reference": reference,
            "payer_name": text[82:100].strip() or None, "contra": contra}, None


def _check_utl(lineno: int, text: str, debits: int, credits: int) -> Iterator[Parsed]:
    fields = text[4:17], text[17:30]
    if not all(f.isdigit() for f in fields):
        yield Parsed("line", lineno, type="warning", note="UTL1 value totals (columns 5–30) are not digits")
        return
    for given, counted, what in ((int(fields[0]), debits, "debit"), (int(fields[1]), credits, "credit")):
        if given != counted:
            yield Parsed("line", lineno, type="warning",
                         note=f"UTL1 {what} value total {_pounds(given)} differs from the records ({_pounds(counted)})")


register("bacs18", parse, sniff=sniff,
         description="Bacs Standard 18 collection file: 100/106-character records, labels optional")
