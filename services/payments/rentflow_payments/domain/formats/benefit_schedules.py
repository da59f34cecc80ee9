"""format=hb-schedule: a council's Housing Benefit (rent rebate) schedule; format=uc-schedule: the
DWP Universal Credit managed-payment (APA) schedule. CSV, one claim per row, split onto the rent
accounts by the landlord's reference (docs/domain.md §3).

Neither has a published layout. Councils send HB landlord schedules per four-weekly (or weekly)
cycle with the claim, the period the payment covers and the amount (e.g. Rushmoor's and Torbay's
landlord pages: "period payment covers from / to", online payment schedules); a council's own
tenants get the rebate straight onto the rent account. DWP's Universal Credit Landlord Portal
exports the managed payments and third-party arrears deductions of one DWP payment, keyed by the
landlord's tenancy reference (gov.uk "Social rented sector Landlord Portal": view and export
payments); its columns are not published. So rentflow defines one CSV layout for each, reads the
header names usual in such exports as well, and maps any other header with option
`columns=name=Header,...`. Header names match case-insensitively, ignoring spaces, `_` and `-`.

hb-schedule columns: `claim_ref` (HB claim), `rent_ref` (the rent account), `period_from`,
`period_to` (the period the rebate covers) and `amount` (pounds) or `amount_pence`, all required;
`posting_date` (when the rebate is credited; default `period_to`), `tenant_name` optional. Each row
→ a payment, channel housing_benefit (ledger `RHB`, posted against the benefits clearing GL code, not
the bank), paid on the posting date, reference = rent_ref; provider_ref
`hb:<claim_ref>:<period_from>:<period_to>` (+ `|n` for identical rows), so the same claim period in a
re-sent or corrected schedule is a duplicate. A negative amount is an overpaid rebate the council
recovers from the rent account (HB Regulations 2006, Part 13: a rent rebate overpayment is recovered
by debiting the tenant's rent account): a `benefit_recovered` reversal (identity
`hb-recovery:<claim_ref>:<period_from>:<period_to>`, reference = rent_ref) that the ledger posts as a
debit `DHB` on that account against the benefits clearing GL code — the rebate's journal the other
way round; the total row's check counts it negative.

uc-schedule columns: `tenancy_ref` (the landlord's reference DWP holds), `payment_date` and
`amount` (or `amount_pence`) required; `payment_type` (managed payment — also "housing costs",
"APA", "MPTL" — or arrears deduction — "arrears", "third party deduction"), `claimant_name`,
`payment_ref` (DWP's reference of the payment), `period_from`, `period_to` optional. Each row → a
payment, channel universal_credit (ledger `RUC`, bank money: the schedule's total is the one
`uc_managed_payment` lump on the statement, which the ledger matches to it), paid on payment_date,
reference = tenancy_ref; provider_ref `uc:<payment_ref or payment_date>:<tenancy_ref>:<type>:<pence>`
(+ `|n`).

Both: a row whose first cell starts with "total" is the schedule's total: checked against the rows
before it (a warning when it differs) and skipped. Blank rows are ignored. `format=auto` recognises
them by their headers (a claim reference and a period start; a tenancy reference and a payment date)."""
from __future__ import annotations

import re
from typing import BinaryIO, Callable, Iterator

from rentflow_payments.domain.formats import Options, Parsed, Unreadable, register
from rentflow_payments.domain.formats._common import BadValue, Occurrences, clip, london_midnight, pounds_to_pence
from rentflow_payments.domain.formats._csv import headed_rows, header_index
from rentflow_common.parsing import uk_date

_NON_WORD = re.compile(r"[\s_\-./()]+")


def _norm(name: str) -> str:
    return _NON_WORD.sub("", name.strip().lower())


# rentflow's column name → header names read without a mapping (normalised)
HB_COLUMNS: dict[str, tuple[str, ...]] = {
    "claim_ref": ("claimref", "claimreference", "claimno", "claimnumber", "hbclaimref", "hbref"),
    "rent_ref": ("rentref", "rentreference", "rentaccount", "accountref", "tenancyref", "tenancyreference",
                 "paymentref", "landlordref"),
    "period_from": ("periodfrom", "fromdate", "periodstart", "startdate", "from"),
    "period_to": ("periodto", "todate", "periodend", "enddate", "to"),
    "amount": ("amount", "rebate", "rentrebate", "amountpaid", "hbamount", "payment"),
    "amount_pence": ("amountpence",),
    "posting_date": ("postingdate", "paymentdate", "paydate", "rundate", "creditdate"),
    "tenant_name": ("tenantname", "claimantname", "claimant", "name"),
}
UC_COLUMNS: dict[str, tuple[str, ...]] = {
    "tenancy_ref": ("tenancyref", "tenancyreference", "landlordref", "landlordreference", "rentref",
                    "rentreference", "yourreference", "tenantreference"),
    "payment_date": ("paymentdate", "datepaid", "paiddate", "date"),
    "amount": ("amount", "amountpaid", "paymentamount", "value"),
    "amount_pence": ("amountpence",),
    "payment_type": ("paymenttype", "type", "deductiontype", "paymentdescription"),
    "claimant_name": ("claimantname", "claimant", "tenantname", "name"),
    "payment_ref": ("paymentref", "paymentreference", "dwpreference", "schedulereference"),
    "period_from": ("periodfrom", "assessmentperiodstart", "apstart", "fromdate"),
    "period_to": ("periodto", "assessmentperiodend", "apend", "todate"),
}


def _columns(defaults: dict[str, tuple[str, ...]], options: Options | None) -> dict[str, tuple[str, ...]]:
    cols = {name: (_norm(name), *aliases) for name, aliases in defaults.items()}
    for part in ((options or {}).get("columns") or "").split(","):
        if not part.strip():
            continue
        name, sep, header = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in defaults or not header.strip():
            raise Unreadable(f"columns: {part.strip()!r} is not name=Header with name one of {', '.join(defaults)}")
        cols[name] = (_norm(header),)
    return cols


def _header_names(head: bytes) -> set[str]:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("latin-1")
    return {_norm(c.strip().strip('"')) for c in first.split(",")}


def _has(found: set[str], columns: dict[str, tuple[str, ...]], name: str, generic: tuple[str, ...] = ()) -> bool:
    return any(a in found and a not in generic for a in (_norm(name), *columns[name]))


def sniff_hb(head: bytes) -> bool:
    found = _header_names(head)
    return _has(found, HB_COLUMNS, "claim_ref") and _has(found, HB_COLUMNS, "period_from", ("from",))


def sniff_uc(head: bytes) -> bool:
    found = _header_names(head)
    return (_has(found, UC_COLUMNS, "tenancy_ref", ("rentref", "rentreference"))
            and _has(found, UC_COLUMNS, "payment_date", ("date",)) and not sniff_hb(head))


Cell = Callable[[list[str], str], str]


def _read(fp: BinaryIO, cols: dict[str, tuple[str, ...]], required: list[tuple[str, ...]], what: str,
          row_of: Callable[[list[str], Cell, Occurrences], dict]) -> Iterator[Parsed]:
    cells, it = headed_rows(fp)
    index = {_norm(h): i for h, i in header_index(cells).items()}
    where = {name: next((index[a] for a in aliases if a in index), None) for name, aliases in cols.items()}
    missing = [" or ".join(alt) for alt in required if all(where[n] is None for n in alt)]
    if missing:
        raise Unreadable(f"not {what}: the header lacks {', '.join(missing)}; it has "
                         f"{', '.join(repr(c) for c in cells)} (map columns with columns=name=Header,...)")

    def cell(cells: list[str], name: str) -> str:
        i = where[name]
        return cells[i].strip() if i is not None and i < len(cells) else ""

    occ = Occurrences()
    total = 0
    for line, cells, error in it:
        if cells is None:
            yield Parsed("line", line, error=error)
            continue
        if cells[0].strip().lower().startswith("total"):
            stated = next((c for c in reversed(cells) if c.strip()), "")
            note = "the schedule's total row"
            try:
                if pounds_to_pence(stated, "total") != total:
                    yield Parsed("line", line, type="warning",
                                 note=f"the total row says {stated}, the rows before it add up to {total / 100:,.2f}")
            except BadValue:
                note += f" ({stated!r} is not an amount)"
            yield Parsed("line", line, type="skipped", note=note)
            continue
        try:
            value = row_of(cells, cell, occ)
        except BadValue as exc:
            yield Parsed("line", line, error=str(exc))
            continue
        if value.get("kind") == "benefit_recovered":  # a negative line: an overpayment recovered
            total -= value["amount_pence"]
            yield Parsed("line", line, type="reversal", value=value)
            continue
        total += value["amount_pence"]
        yield Parsed("line", line, value=value)


def _amount(cells: list[str], cell: Cell, negative_allowed: bool = False) -> int:
    """Pence, more than 0; or, where `negative_allowed`, less than 0 for a negative amount ("-12.50",
    "(12.50)", "12.50-", "-£12.50", amount_pence "-1250")."""
    text = cell(cells, "amount")
    if text:
        negative = text.startswith("-") or (text.startswith("(") and text.endswith(")")) or text.endswith("-")
        if negative and not negative_allowed:
            raise BadValue(f"amount: {text!r} is negative: a schedule of payments has none")
        digits = text.strip("()-").replace("£", "").strip() if negative else text.lstrip("£").replace("£", "")
        pence = pounds_to_pence(digits, "amount")
    else:
        raw = cell(cells, "amount_pence")
        negative = raw.startswith("-")
        if not raw.lstrip("-").isdigit() or (negative and not negative_allowed):
            raise BadValue(f"amount: {text or raw!r} is not an amount")
        pence = int(raw.lstrip("-"))
    if pence <= 0:
        raise BadValue("amount: must not be 0")
    return -pence if negative else pence


def _date(text: str, field: str):
    if not text:
        raise BadValue(f"{field}: blank")
    return uk_date(text, field)[0]


def _hb_row(cells: list[str], cell: Cell, occ: Occurrences) -> dict:
    claim = cell(cells, "claim_ref")
    rent = cell(cells, "rent_ref")
    if not claim:
        raise BadValue("claim_ref: blank")
    if not rent:
        raise BadValue("rent_ref: blank (the rent account the rebate is for)")
    start, end = _date(cell(cells, "period_from"), "period_from"), _date(cell(cells, "period_to"), "period_to")
    if end < start:
        raise BadValue(f"period_to: {end} is before period_from {start}")
    pence = _amount(cells, cell, negative_allowed=True)
    posted = _date(cell(cells, "posting_date"), "posting_date") if cell(cells, "posting_date") else end
    if pence < 0:  # an overpaid rebate recovered: a debit on the rent account (HB clearing), not refused
        key = occ.key(f"hb-recovery:{claim}:{start.isoformat()}:{end.isoformat()}")
        return {"identity": key.removesuffix("|1")[:400], "kind": "benefit_recovered", "amount_pence": -pence,
                "reversed_at": london_midnight(posted),
                "reason": clip(f"Housing Benefit overpaid for {start} to {end}, claim {claim}: recovered", 140),
                "original": {"reference": clip(rent, 140) or "", "payer_name": clip(cell(cells, "tenant_name"), 140)}}
    key = occ.key(f"hb:{claim}:{start.isoformat()}:{end.isoformat()}")
    return {"provider_ref": key.removesuffix("|1")[:100], "channel": "housing_benefit", "amount_pence": pence,
            "currency": "GBP", "paid_at": london_midnight(posted), "reference": clip(rent, 140) or "",
            "payer_name": clip(cell(cells, "tenant_name"), 140)}


_MANAGED = re.compile(r"manag|housing|apa|mptl|rent|direct")
_ARREARS = re.compile(r"arrear|third|deduct|tpd")


def _uc_type(text: str) -> str:
    t = text.lower()
    if not t or _MANAGED.search(t) and not _ARREARS.search(t):
        return "managed_payment"
    if _ARREARS.search(t):
        return "arrears_deduction"
    raise BadValue(f"payment_type: {text!r} is neither a managed payment nor an arrears deduction")


def _uc_row(cells: list[str], cell: Cell, occ: Occurrences) -> dict:
    tenancy = cell(cells, "tenancy_ref")
    if not tenancy:
        raise BadValue("tenancy_ref: blank (the landlord's reference DWP pays against)")
    paid = _date(cell(cells, "payment_date"), "payment_date")
    pence = _amount(cells, cell)
    kind = _uc_type(cell(cells, "payment_type"))
    for field in ("period_from", "period_to"):
        if cell(cells, field):
            _date(cell(cells, field), field)
    key = occ.key(f"uc:{cell(cells, 'payment_ref') or paid.isoformat()}:{tenancy}:{kind}:{pence}")
    return {"provider_ref": key.removesuffix("|1")[:100], "channel": "universal_credit", "amount_pence": pence,
            "currency": "GBP", "paid_at": london_midnight(paid), "reference": clip(tenancy, 140) or "",
            "payer_name": clip(cell(cells, "claimant_name"), 140)}


def parse_hb(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    cols = _columns(HB_COLUMNS, options)
    yield from _read(fp, cols, [("claim_ref",), ("rent_ref",), ("period_from",), ("period_to",),
                                ("amount", "amount_pence")], "a Housing Benefit schedule", _hb_row)


def parse_uc(fp: BinaryIO, options: Options | None = None) -> Iterator[Parsed]:
    cols = _columns(UC_COLUMNS, options)
    yield from _read(fp, cols, [("tenancy_ref",), ("payment_date",), ("amount", "amount_pence")],
                     "a Universal Credit schedule", _uc_row)


register("hb-schedule", parse_hb, sniff=sniff_hb,
         description="a council's Housing Benefit rent rebate schedule (CSV), split onto the rent accounts")
register("uc-schedule", parse_uc, sniff=sniff_uc,
         description="DWP's Universal Credit managed-payment (APA) schedule (CSV), split onto the rent accounts")
