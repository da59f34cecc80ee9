"""format=addacs / format=auddis: Bacs messaging advices → `directdebit.mandates.v1`.

Both reports are `MessagingAdvice` elements with hyphenated attributes (DOMAIN.md §3):
`reference`, `payer-name`, `reason-code`, `effective-date`, and for AUDDIS `transaction-code`
(the lodged instruction: 0N, 0C, 0S). The report's own `advice-type` (on `MessagingHeader`) says
which it is and wins over the format asked for.

- ADDACS: the reason code gives the action (0, 1 cancelled; 2 deceased; 3 transferred; B closed;
  C, E amended; D disputed; R reinstated).
- AUDDIS: every advice is a rejected lodgement (action "rejected"), the reason code saying why.

Identity: source + reference + reason code + effective date (else the report date) (+ n), so the
advice in a re-sent report is the same instruction. Payer bank details are never read."""
from __future__ import annotations

import datetime as dt
import re
from typing import BinaryIO, Iterator

from rentflow_payments.domain.bacs import ADDACS, AUDDIS
from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, iso_date, normalise_reference
from rentflow_payments.domain.formats._head import element, require
from rentflow_payments.domain.formats._xml import Element, attr, check_well_formed, iter_items

_ADVICE = element("MessagingAdvice")
_TYPE = re.compile(rb"advice-type\s*=\s*[\"'](ADDACS|AUDDIS)[\"']", re.I)


def _type_in(head: bytes) -> str | None:
    m = _TYPE.search(head)
    return m.group(1).decode().lower() if m else None


def sniff_addacs(head: bytes) -> bool:
    return bool(_ADVICE.search(head)) and _type_in(head) != "auddis" and b"transaction-code" not in head


def sniff_auddis(head: bytes) -> bool:
    return bool(_ADVICE.search(head)) and (_type_in(head) == "auddis" or b"transaction-code" in head)


def _parser(default: str):
    def parse(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
        head = require(fp, _ADVICE, f"an {default.upper()} report: no MessagingAdvice element at its start")
        check_well_formed(fp, default.upper())
        source = _type_in(head) or default
        occ = Occurrences()
        report_day: dt.date | None = None
        n = 0
        for name, el, _ in iter_items(fp, dict.fromkeys(("MessagingHeader", "MessagingAdvice"))):
            if name == "MessagingHeader":
                day = attr(el, "report-generation-date") or attr(el, "processing-date")
                try:
                    report_day = iso_date(day, "report-generation-date") if day else None
                except BadValue as exc:
                    raise Unreadable(str(exc)) from None
                continue
            n += 1
            try:
                yield Parsed("item", n, type="mandate", value=_advice(el, source, report_day, occ))
            except BadValue as exc:
                yield Parsed("item", n, error=str(exc))
    return parse


def _advice(el: Element, source: str, report_day: dt.date | None, occ: Occurrences) -> dict:
    ref = attr(el, "reference")
    if not ref:
        raise BadValue("reference: missing")
    code = (attr(el, "reason-code") or "").upper()
    effective = attr(el, "effective-date")
    day = iso_date(effective, "effective-date") if effective else None
    if source == "addacs":
        if code not in ADDACS:
            raise BadValue(f"reason-code: {code!r} is not an ADDACS code ({', '.join(ADDACS)})")
        action, meaning = ADDACS[code]
        description = f"ADDACS {code}: {meaning}"
    else:
        if code not in AUDDIS:
            raise BadValue(f"reason-code: {code!r} is not an AUDDIS rejection code ({', '.join(AUDDIS)})")
        action = "rejected"
        tcode = attr(el, "transaction-code")
        description = f"AUDDIS {code}: {AUDDIS[code]}" + (f" (instruction {tcode} rejected)" if tcode else "")
    when = (day or report_day).isoformat() if (day or report_day) else ""
    return {"identity": f"{source}|" + occ.key(normalise_reference(ref), code, when), "source": source,
            "reference": ref, "payer_name": clip(attr(el, "payer-name"), 140), "reason_code": code,
            "action": action, "description": description[:140], "effective_date": day or report_day}


register("addacs", _parser("addacs"), sniff=sniff_addacs,
         description="Bacs ADDACS mandate amendments and cancellations (XML MessagingAdvice)")
register("auddis", _parser("auddis"), sniff=sniff_auddis,
         description="Bacs AUDDIS rejections of lodged instructions (XML MessagingAdvice)")
