"""Writers of every file layout intake reads, from plain values: the tests' fixtures, the bench's
large files and anyone's examples. Written from the layouts in docs/domain.md §3 and the format
modules' docstrings; nothing here is copied from a real file."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import IO, Iterable, Sequence
from xml.sax.saxutils import quoteattr, escape

LANDLORD_SORT, LANDLORD_ACCOUNT, LANDLORD = "401234", "12345678", "RENTFLOW COUNCIL"


def money(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


# ---- Bacs Standard 18 ----------------------------------------------------------------------

@dataclass
class S18:
    code: str
    amount_pence: int
    reference: str
    payer_name: str = "A TENANT"
    payer_sort: str = "112233"
    payer_account: str = "87654321"
    day: dt.date | None = None  # 106-character records carry it


def yyddd(day: dt.date) -> str:
    return f" {day.year % 100:02d}{day.timetuple().tm_yday:03d}"


def s18_record(r: S18, *, orig_sort: str = LANDLORD_SORT, orig_account: str = LANDLORD_ACCOUNT) -> str:
    line = (f"{r.payer_sort}{r.payer_account}0{r.code}{orig_sort}{orig_account}0000{r.amount_pence:011d}"
            f"{LANDLORD:<18.18}{r.reference:<18.18}{r.payer_name:<18.18}")
    return line + (yyddd(r.day) if r.day else "")


def s18_contra(amount_pence: int, code: str = "99", day: dt.date | None = None) -> str:
    return s18_record(S18(code, amount_pence, "CONTRA", LANDLORD, LANDLORD_SORT, LANDLORD_ACCOUNT, day))


def bacs18(records: Sequence[S18], *, day: dt.date | None = None, labels: bool = True, contra: bool = True,
           crlf: bool = False) -> bytes:
    """A Standard 18 file: labels (UHL1 dated `day`) unless labels=False, a 99 contra balancing the
    collections (and a 17 contra balancing any direct credits) unless contra=False."""
    lines: list[str] = []
    if labels:
        lines += ["VOL1000001                               123456                                1",
                  "HDR1A123456S  1123456000001000100010001       26001 26001       000000                ",
                  "HDR200000000001000                                                                 ",
                  f"UHL1{yyddd(day) if day else ' 99999'}999999    000000001 DAILY  001                                        "]
    lines += [s18_record(r) for r in records]
    debits = sum(r.amount_pence for r in records if r.code in ("01", "17", "18", "19"))
    credits = sum(r.amount_pence for r in records if r.code == "99")
    dated = records[0].day if records and records[0].day else None
    if contra and debits:
        lines.append(s18_contra(debits, "99", dated))
    if contra and credits:
        lines.append(s18_contra(credits, "17", dated))
    if labels:
        d_total = debits + (credits if contra and credits else 0)
        c_total = credits + (debits if contra and debits else 0)
        lines += ["EOF1A123456S  1123456000001000100010001       26001 26001       000000                ",
                  "EOF200000000001000                                                                 ",
                  f"UTL1{d_total:013d}{c_total:013d}{0:07d}{0:07d}                                    "]
    end = "\r\n" if crlf else "\n"
    return end.join(lines).encode("ascii") + end.encode()


# ---- ARUDD, DDICA, ADDACS/AUDDIS -----------------------------------------------------------

@dataclass
class Returned:
    reference: str
    amount_pence: int
    original: dt.date
    code: str = "0"
    payer_name: str = "A TENANT"
    trans_code: str = "17"


def arudd(items: Sequence[Returned], *, reported: dt.date, advice: str = "00001", totals: int | None = None) -> bytes:
    rows = "".join(
        f'<ReturnedDebitItem ref={quoteattr(i.reference)} transCode="{i.trans_code}" returnCode="{i.code}" '
        f'returnDescription="REFER TO PAYER" originalProcessingDate="{i.original.isoformat()}" '
        f'valueOf="{money(i.amount_pence)}" currency="GBP">'
        f'<PayerAccount number="12345678" ref={quoteattr(i.reference)} name={quoteattr(i.payer_name)} '
        f'sortCode="112233" bankName="A BANK" branchName="A BRANCH"/></ReturnedDebitItem>' for i in items)
    total = sum(i.amount_pence for i in items) if totals is None else totals
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<BACSDocument><Data><ARUDD>'
            f'<Header reportType="REFT1019" adviceNumber="{advice}" currentProcessingDate="{reported.isoformat()}"/>'
            f'<ServiceLicenseInformation userName="RENTFLOW COUNCIL" userNumber="123456"/>'
            f'<Advice><OriginatingAccountRecords><OriginatingAccountRecord>'
            f'<OriginatingAccount name="RENTFLOW COUNCIL" number="{LANDLORD_ACCOUNT}" sortCode="{LANDLORD_SORT}"/>'
            f'{rows}<Totals numberOf="{len(items)}" valueOf="{money(total)}" currency="GBP"/>'
            f'</OriginatingAccountRecord></OriginatingAccountRecords></Advice></ARUDD></Data></BACSDocument>\n'
            ).encode()


@dataclass
class Claim:
    seq: str
    reference: str
    collections: Sequence[tuple[dt.date, int]]
    code: str = "1"
    payer_name: str = "A TENANT"


def ddica(claims: Sequence[Claim], *, reported: dt.date) -> bytes:
    body = "".join(
        f"<DDICAdvice><SeqNo>{c.seq}</SeqNo><SUNumber>123456</SUNumber><SUReference>{escape(c.reference)}</SUReference>"
        f"<ReasonCode>{c.code}</ReasonCode><PayerName>{escape(c.payer_name)}</PayerName>"
        f"<TotalAmount>{money(sum(a for _, a in c.collections))}</TotalAmount><DDCollections>"
        + "".join(f"<DDCollection><DirectDebitDate>{d.isoformat()}</DirectDebitDate>"
                  f"<DirectDebitAmount>{money(a)}</DirectDebitAmount></DDCollection>" for d, a in c.collections)
        + "</DDCollections></DDICAdvice>" for c in claims)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<BACSDocument><Data><DDICReport>'
            f'<Header reportType="DDIC" currentProcessingDate="{reported.isoformat()}"/>'
            f'<NewAdvices>{body}</NewAdvices></DDICReport></Data></BACSDocument>\n').encode()


@dataclass
class Advice:
    reference: str
    code: str
    effective: dt.date | None = None
    payer_name: str = "A TENANT"
    transaction_code: str | None = None  # AUDDIS


def messaging(advices: Sequence[Advice], *, advice_type: str, reported: dt.date) -> bytes:
    body = "".join(
        f'<MessagingAdvice user-number="123456" record-type="A" reference={quoteattr(a.reference)} '
        f'payer-name={quoteattr(a.payer_name)} payer-account-number="12345678" payer-sort-code="112233" '
        f'reason-code="{a.code}"' + (f' effective-date="{a.effective.isoformat()}"' if a.effective else "")
        + (f' transaction-code="{a.transaction_code}"' if a.transaction_code else "") + "/>" for a in advices)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<BACSDocument><Data><MessagingAdvices>'
            f'<MessagingHeader advice-type="{advice_type}" report-generation-date="{reported.isoformat()}" '
            f'user-number="123456"/>{body}</MessagingAdvices></Data></BACSDocument>\n').encode()


# ---- camt.053 ------------------------------------------------------------------------------

@dataclass
class Tx:
    amount_pence: int
    reference: str = ""
    payer: str | None = "A PAYER"
    end_to_end: str = "NOTPROVIDED"
    structured: bool = False


@dataclass
class Entry:
    acct_ref: str | None
    amount_pence: int | None = None  # the sum of its transactions by default
    side: str = "CRDT"
    reversal: bool = False
    value_date: dt.date = dt.date(2026, 10, 5)
    family: str = "RCDT"
    sub_family: str = "DMCT"
    status: str = "BOOK"
    txs: list[Tx] = field(default_factory=list)
    tx_amounts: bool = True


CAMT_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def camt_entry(e: Entry) -> str:
    total = e.amount_pence if e.amount_pence is not None else sum(t.amount_pence for t in e.txs)
    txs = ""
    for t in e.txs:
        rmt = (f"<Strd><CdtrRefInf><Ref>{escape(t.reference)}</Ref></CdtrRefInf></Strd>" if t.structured
               else f"<Ustrd>{escape(t.reference)}</Ustrd>") if t.reference else ""
        txs += ("<TxDtls><Refs><EndToEndId>" + escape(t.end_to_end) + "</EndToEndId></Refs>"
                + (f'<AmtDtls><TxAmt><Amt Ccy="GBP">{money(t.amount_pence)}</Amt></TxAmt></AmtDtls>' if e.tx_amounts else "")
                + (f"<RltdPties><Dbtr><Nm>{escape(t.payer)}</Nm></Dbtr></RltdPties>" if t.payer else "")
                + (f"<RmtInf>{rmt}</RmtInf>" if rmt else "") + "</TxDtls>")
    return (f'<Ntry><Amt Ccy="GBP">{money(total)}</Amt><CdtDbtInd>{e.side}</CdtDbtInd>'
            + ("<RvslInd>true</RvslInd>" if e.reversal else "")
            + f"<Sts>{e.status}</Sts><BookgDt><Dt>{e.value_date.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{e.value_date.isoformat()}</Dt></ValDt>"
            + (f"<AcctSvcrRef>{escape(e.acct_ref)}</AcctSvcrRef>" if e.acct_ref else "")
            + f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{e.family}</Cd><SubFmlyCd>{e.sub_family}</SubFmlyCd></Fmly>"
            f"</Domn></BkTxCd>" + (f"<NtryDtls>{txs}</NtryDtls>" if txs else "") + "</Ntry>")


def camt_head(stmt_id: str = "STMT-1") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT_NS}"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>MSG-{escape(stmt_id)}</MsgId><CreDtTm>2026-10-06T06:00:00</CreDtTm></GrpHdr>"
            f"<Stmt><Id>{escape(stmt_id)}</Id><Acct><Id><Othr><Id>{LANDLORD_ACCOUNT}</Id></Othr></Id></Acct>")


CAMT_TAIL = "</Stmt></BkToCstmrStmt></Document>\n"


def camt053(entries: Iterable[Entry], *, stmt_id: str = "STMT-1") -> bytes:
    return (camt_head(stmt_id) + "".join(camt_entry(e) for e in entries) + CAMT_TAIL).encode()


def write_camt053(out: IO[bytes], entries: Iterable[Entry], *, stmt_id: str = "STMT-1") -> None:
    """The same document streamed to `out` (for files too large to build in memory)."""
    out.write(camt_head(stmt_id).encode())
    for e in entries:
        out.write(camt_entry(e).encode())
    out.write(CAMT_TAIL.encode())


# ---- CSV layouts and GOV.UK Pay ------------------------------------------------------------

def cash_csv(rows: Iterable[dict[str, str]], header: Sequence[str] = ("transaction_id", "paid_at", "amount",
                                                                     "reference", "outlet")) -> bytes:
    def q(v: str) -> str:
        return f'"{v}"' if "," in v or '"' in v else v
    return ("\n".join([",".join(header)] + [",".join(q(r.get(h, "")) for h in header) for r in rows]) + "\n").encode()


BANK_CSV_HEADER = ("Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,"
                   "Debit Amount,Credit Amount,Balance")


def bank_csv(rows: Iterable[tuple[str, str, str, str, str, str]]) -> bytes:
    """Rows of (date dd/mm/yyyy, type, description, debit, credit, balance) in the debit/credit layout."""
    lines = [BANK_CSV_HEADER] + [f"{d},{t},40-12-34,12345678,{desc},{dr},{cr},{bal}" for d, t, desc, dr, cr, bal in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def govuk_event(resource_id: str, event_type: str, amount: int, reference: str, *, message_id: str | None = None,
                created: str = "2026-10-06T10:00:00.000Z", refunded: int = 0, status: str = "success") -> dict:
    return {"webhook_message_id": message_id or f"{resource_id}-{event_type}-{refunded}",
            "created_date": created, "resource_id": resource_id, "api_version": 1, "resource_type": "payment",
            "event_type": event_type,
            "resource": {"payment_id": resource_id, "amount": amount, "reference": reference,
                         "description": "Rent", "email": "tenant@example.org", "created_date": "2026-10-06T09:59:00.000Z",
                         "state": {"status": status, "finished": True},
                         "refund_summary": {"status": "available" if not refunded else "partial",
                                            "amount_available": amount - refunded, "amount_submitted": refunded},
                         "card_details": {"first_digits_card_number": "424242", "last_digits_card_number": "4242",
                                          "card_brand": "Visa", "cardholder_name": "A TENANT"},
                         "fee": 5, "net_amount": amount - 5}}


def govuk_replay(events: Sequence[dict]) -> bytes:
    return json.dumps(list(events)).encode()
