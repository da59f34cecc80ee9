"""format=addacs / format=auddis: Bacs messaging advices → `directdebit.mandates.v1`.

Layout (so-sure's Lloyds ADDACS, AUDACC and AUDREJ test reports; their BacsService reads the same):
`BACSDocument/Data/MessagingAdvices` with a `MessagingHeader` (`advice-type` ADDACS, AUDDIS,
AUDACC or AUDREJ, `report-generation-date`, `user-number`, `subject-first-aosn`, …), an
`AddresseeInformation`, `MessagingAdvice`s with hyphenated attributes and a `MessagingError`
(`line1`–`line3`); a `SignatureMethod`/`Signature` may follow `Data`. The header's `advice-type` says
which report it is and wins over the format asked for. Codes: rentflow_schemas.bacs.

- ADDACS (record-type A): `reference`, `payer-name`, `reason-code`, `effective-date`, `aosn` (the
  advice's sequence number); the code gives the action (0, 1 cancelled; 2 deceased; 3 transferred;
  B closed; C, E amended; D disputed; R reinstated). An unknown code is a warning and the advice is
  still taken, as action `query` (held until a person reads it).
- AUDDIS advices (the paying banks' answers to lodged 0N/0C/0S): as ADDACS plus `transaction-code`;
  every code is a rejection except C (details amended, the instruction is live); an unknown code is
  a warning, still a rejection.
- AUDACC / AUDREJ (record-type V / R): the whole lodgement, no payer reference: `vol-serial-number`
  (the Standard 18 file's VOL1 serial), `originator-file-number`, `processing-date`, `accepted-ddi`,
  `rejected-ddi`, `file-error-code`, and the following MessagingError's lines as the reason →
  action lodgement_accepted / lodgement_rejected, reference `LODGEMENT <serial>`.

Identity: with an `aosn`, source + service user number + aosn + reference + code + effective date,
so the same advice in a re-sent report is one event whatever the report date; without one, source
+ reference + code + effective date (else the report date) (+ n). A lodgement report: its serial,
file number, processing date and aosn. Payer bank details are never read."""
from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO, Iterator

from rentflow_schemas.bacs import (ADDACS_REASONS, AUDDIS_REASONS, LODGEMENT_ACCEPTED, LODGEMENT_REJECTED,
                                   UNKNOWN_ADVICE_ACTION, UNKNOWN_AUDDIS_ACTION)

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, iso_date, normalise_reference
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats._xml import Element, attr, check_well_formed, iter_items

_ADVICE = element("MessagingAdvice")
_TYPE = re.compile(rb"advice-type\s*=\s*[\"'](ADDACS|AUDDIS|AUDACC|AUDREJ)[\"']", re.I)
AUDDIS_TYPES = ("AUDDIS", "AUDACC", "AUDREJ")
_WANTED = {"MessagingHeader": None, "Header": frozenset({"MessagingAdvices"}), "MessagingAdvice": None,
           "MessagingError": None}


def _type_in(head: bytes) -> str | None:
    m = _TYPE.search(head)
    return m.group(1).decode().upper() if m else None


def sniff_auddis(head: bytes) -> bool:
    return bool(_ADVICE.search(head)) and (_type_in(head) in AUDDIS_TYPES or b"transaction-code" in head
                                            or b"accepted-ddi" in head)


def sniff_addacs(head: bytes) -> bool:
    return bool(_ADVICE.search(head)) and not sniff_auddis(head)


def _parser(default: str):
    def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
        require(fp, _ADVICE, f"an {default.upper()} report: no MessagingAdvice element at its start")
        check_well_formed(fp, default.upper())
        report = _Report(default.upper())
        pending: tuple[int, dict] | None = None  # a lodgement report waits for its MessagingError
        n = 0
        for name, el, _ in iter_items(fp, _WANTED):
            if name in ("MessagingHeader", "Header"):
                report.header(el)
                continue
            if name == "MessagingError":
                if pending is not None:
                    yield from _lodgement(*pending, report, _error_lines(el))
                    pending = None
                continue
            if pending is not None:
                yield from _lodgement(*pending, report, "")
                pending = None
            n += 1
            fields = dict(el.attrib)
            if report.file_level(fields):
                pending = (n, fields)
                continue
            try:
                value, warning = _advice(fields, report)
            except BadValue as exc:
                yield Parsed("item", n, error=str(exc))
                continue
            if warning:
                yield Parsed("item", n, type="warning", note=warning)
            yield Parsed("item", n, type="mandate", value=value)
        if pending is not None:
            yield from _lodgement(*pending, report, "")
    return parse


class _Report:
    """What the header says: which report, its date, whose (service user number)."""

    def __init__(self, default: str) -> None:
        self.type = default
        self.day: dt.date | None = None
        self.user = ""
        self.occ = Occurrences()

    def header(self, el: Element) -> None:
        self.type = (attr(el, "advice-type") or self.type).upper()
        self.user = attr(el, "user-number") or self.user
        day = attr(el, "report-generation-date") or attr(el, "processing-date")
        try:
            self.day = iso_date(day, "report-generation-date") if day else self.day
        except BadValue as exc:
            raise Unreadable(str(exc)) from None

    @property
    def source(self) -> str:
        return "auddis" if self.type in AUDDIS_TYPES else "addacs"

    def file_level(self, fields: dict[str, str]) -> bool:
        return (fields.get("record-type") or "").strip().upper() in ("V", "R") or self.type in ("AUDACC", "AUDREJ")


def _get(fields: dict[str, str], name: str) -> str | None:
    value = fields.get(name)
    return value.strip() if value is not None and value.strip() else None


def _day(fields: dict[str, str], name: str) -> dt.date | None:
    value = _get(fields, name)
    return iso_date(value, name) if value else None


def _advice(fields: dict[str, str], report: _Report) -> tuple[dict, str | None]:
    ref = _get(fields, "reference")
    if not ref:
        raise BadValue("reference: missing")
    code = (_get(fields, "reason-code") or "").upper()
    effective = _day(fields, "effective-date")
    table, unknown_action = ((AUDDIS_REASONS, UNKNOWN_AUDDIS_ACTION) if report.source == "auddis"
                             else (ADDACS_REASONS, UNKNOWN_ADVICE_ACTION))
    reason = table.get(code)
    action, meaning = reason if reason else (unknown_action, "reason code not recognised")
    warning = None if reason else (f"reason-code {code!r} is not a known {report.source.upper()} code: taken as "
                                   f"action {action}, to be read by a person")
    description = f"{report.source.upper()} {code}: {meaning}"
    if report.source == "auddis" and (tcode := _get(fields, "transaction-code")):
        description += f" (instruction {tcode})"
    aosn = _get(fields, "aosn")
    user = _get(fields, "user-number") or report.user
    key = normalise_reference(ref)
    if aosn:
        identity = "|".join((report.source, user, aosn, key, code, effective.isoformat() if effective else ""))
    else:
        when = effective or report.day
        identity = f"{report.source}|" + report.occ.key(key, code, when.isoformat() if when else "")
    return {"identity": identity, "source": report.source, "reference": ref,
            "payer_name": clip(_get(fields, "payer-name"), 140), "reason_code": code or "?", "action": action,
            "description": description[:140], "effective_date": effective or report.day,
            "advice_sequence": aosn}, warning


def _error_lines(el: Element) -> str:
    """A MessagingError's text: its non-placeholder lines (reports fill unused ones with "0")."""
    lines = [v.strip() for k, v in sorted(el.attrib.items()) if k.startswith("line") and v.strip() not in ("", "0")]
    return " ".join(lines)


def _count(fields: dict[str, str], name: str) -> int | None:
    value = _get(fields, name)
    if value is None:
        return None
    if not value.isdigit():
        raise BadValue(f"{name}: {value!r} is not a number")
    return int(value)


def _lodgement(n: int, fields: dict[str, str], report: _Report, errors: str) -> Iterator[Parsed]:
    try:
        serial = _get(fields, "vol-serial-number")
        if not serial:
            raise BadValue("vol-serial-number: missing, so the lodgement this report is about is unknown")
        record = (_get(fields, "record-type") or "").upper()
        error_code = _get(fields, "file-error-code")
        failed = error_code is not None and error_code.strip("0") != ""
        accepted = (not failed) and (record == "V" or (record != "R" and report.type == "AUDACC"))
        file_no = _get(fields, "originator-file-number") or ""
        day = _day(fields, "processing-date") or report.day
        ok, bad = _count(fields, "accepted-ddi"), _count(fields, "rejected-ddi")
    except BadValue as exc:
        yield Parsed("item", n, error=str(exc))
        return
    which = f"lodgement {serial}" + (f" (file {file_no})" if file_no else "")
    if accepted:
        description = f"AUDDIS {which} accepted: {ok if ok is not None else '?'} instruction(s) lodged" + (
            f", {bad} rejected" if bad else "")
    else:
        description = (f"AUDDIS {which} rejected" + (f", error {error_code}" if failed else "")
                       + (f": {errors}" if errors else "") + ": none of its instructions is live")
    kind = "AUDACC" if accepted else "AUDREJ"
    yield Parsed("item", n, type="mandate", value={
        "identity": "|".join(("auddis", _get(fields, "user-number") or report.user, kind, serial, file_no,
                              day.isoformat() if day else "", _get(fields, "aosn") or "")),
        "source": "auddis", "reference": f"LODGEMENT {serial}"[:40], "payer_name": None, "reason_code": kind,
        "action": LODGEMENT_ACCEPTED if accepted else LODGEMENT_REJECTED, "description": description[:140],
        "effective_date": day, "advice_sequence": _get(fields, "aosn"), "lodgement_serial": serial[:20],
        "lodgement_file_number": file_no[:20] or None, "accepted_count": ok, "rejected_count": bad,
        "file_error_code": error_code[:20] if failed and error_code else None})


register("addacs", _parser("addacs"), sniff=sniff_addacs,
         description="Bacs ADDACS mandate amendments and cancellations (XML MessagingAdvice)")
register("auddis", _parser("auddis"), sniff=sniff_auddis,
         description="Bacs AUDDIS reports: bank-returned instructions and lodgement acceptance/rejection (XML)")
