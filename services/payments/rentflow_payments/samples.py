"""Writers of every file layout intake reads, from plain values: the tests' fixtures, the bench's
large files and anyone's examples. Written from the layouts in docs/domain.md §3 and the format
modules' docstrings; nothing here is copied from a real file."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import IO, Iterable, Sequence
from xml.sax.saxutils import quoteattr, escape

from rentflow_schemas.bacs import ARUDD_REASONS, normalise_return_code

LANDLORD_SORT, LANDLORD_ACCOUNT, LANDLORD, SUN = "401234", "12345678", "RENTFLOW COUNCIL", "123456"


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
# Layouts as Bacs reports have them (payments' tests/fixtures/ README names the real files followed).

@dataclass
class Returned:
    reference: str
    amount_pence: int
    original: dt.date
    code: str = "0"  # as the report has it: "0", "0128", "F21", ...
    payer_name: str = "A TENANT"
    trans_code: str = "17"
    description: str | None = None  # the Bacs wording of the code by default


def money_commas(pence: int) -> str:
    return f"{pence // 100:,}.{pence % 100:02d}"


def arudd(items: Sequence[Returned], *, reported: dt.date, advice: str = "00001", totals: int | None = None) -> bytes:
    def wording(i: Returned) -> str:
        if i.description is not None:
            return i.description
        code = normalise_return_code(i.code)
        return ARUDD_REASONS[code].wording if code else ""
    rows = "".join(
        f'<ReturnedDebitItem ref={quoteattr(i.reference)} transCode="{i.trans_code}" returnCode={quoteattr(i.code)} '
        f'returnDescription={quoteattr(wording(i))} originalProcessingDate="{i.original.isoformat()}" '
        f'valueOf="{money(i.amount_pence)}" currency="GBP">'
        f'<PayerAccount number="12345678" ref={quoteattr(i.reference)} name={quoteattr(i.payer_name)} '
        f'sortCode="11-22-33" bankName="A BANK" branchName="A BRANCH"/></ReturnedDebitItem>' for i in items)
    total = sum(i.amount_pence for i in items) if totals is None else totals
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<BACSDocument><Data><ARUDD>'
            f'<Header reportType="REFT1019" adviceNumber="{advice}" currentProcessingDate="{reported.isoformat()}"/>'
            f'<AddresseeInformation name="{LANDLORD}"/>'
            f'<ServiceLicenseInformation userName="{LANDLORD}" userNumber="{SUN}"/>'
            f'<Advice><OriginatingAccountRecords><OriginatingAccountRecord>'
            f'<OriginatingAccount name="{LANDLORD}" number="{LANDLORD_ACCOUNT}" sortCode="{LANDLORD_SORT}"/>'
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
    bank_ref: str | None = None  # PayingBankReference, f"PB{seq}" by default


def _claim(c: Claim, element: str) -> str:
    return (f"<{element}><SeqNo>{escape(c.seq)}</SeqNo><PayingBankReference>{escape(c.bank_ref or 'PB' + c.seq)}"
            f"</PayingBankReference><SUReference>{escape(c.reference)}</SUReference><ReasonCode>{escape(c.code)}</ReasonCode>"
            f"<ReasonCodeMeaning>SEE REASON CODE</ReasonCodeMeaning><PayerSortCode>112233</PayerSortCode>"
            f"<PayerName>{escape(c.payer_name)}</PayerName><PayerAccount>87654321</PayerAccount>"
            f"<TotalAmount>{money_commas(sum(a for _, a in c.collections))}</TotalAmount><DDCollections>"
            + "".join(f"<DDCollection><DateOfDirectDebit>{d.isoformat()}</DateOfDirectDebit>"
                      f"<Amount>{money_commas(a)}</Amount></DDCollection>" for d, a in c.collections)
            + f"</DDCollections></{element}>")


def ddica(claims: Sequence[Claim], *, reported: dt.date, cancellations: Sequence[Claim] = ()) -> bytes:
    """A DDICA report: claims debited on `reported` (NewAdvices DateOfDebit), and claims cancelled."""
    claimed = sum(a for c in claims for _, a in c.collections)
    cancelled = "" if not cancellations else (
        f"<Cancellations><TotalValueOfCancellations>{money_commas(sum(a for c in cancellations for _, a in c.collections))}"
        f"</TotalValueOfCancellations>" + "".join(_claim(c, "DDICCancellation") for c in cancellations)
        + "</Cancellations>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<VocaDocument><Data><Document>'
            f"<ServiceUserNumber>{SUN}</ServiceUserNumber><NewAdvices><DateOfDebit>{reported.isoformat()}</DateOfDebit>"
            f"<TotalValueOfDebits>{money_commas(claimed)}</TotalValueOfDebits>"
            + "".join(_claim(c, "DDICAdvice") for c in claims)
            + f"</NewAdvices>{cancelled}</Document></Data></VocaDocument>\n").encode()


@dataclass
class Advice:
    reference: str
    code: str
    effective: dt.date | None = None
    payer_name: str = "A TENANT"
    transaction_code: str | None = None  # AUDDIS
    aosn: str | None = None  # the advice's sequence number


def _messaging_document(advice_type: str, reported: dt.date, body: str, first: str = "0", last: str = "0") -> bytes:
    report_type = {"ADDACS": "7001", "AUDDIS": "7002", "AUDACC": "7003", "AUDREJ": "7004"}.get(advice_type, "0")
    return (f"<?xml version = '1.0' encoding = 'UTF-8'?>\n<BACSDocument xmlns:xsi=\"http://www.w3.org/2001/"
            f'XMLSchema-instance" xsi:noNamespaceSchemaLocation="newbacs-advices.xsd"><Data><MessagingAdvices>'
            f'<MessagingHeader document-number="0" advice-type="{advice_type}" subject-first-aosn="{first}" '
            f'subject-last-aosn="{last}" user-number="{SUN}" stream-identifier="0" envelope-sequence-number="0" '
            f'report-generation-date="{reported.isoformat()}" user-name="{LANDLORD}" report-type="{report_type}"/>'
            f'<AddresseeInformation name=" "/>{body}</MessagingAdvices></Data>'
            f"<SignatureMethod>Vanilla</SignatureMethod><Signature>{'QUJD' * 40}</Signature></BACSDocument>\n").encode()


def messaging(advices: Sequence[Advice], *, advice_type: str, reported: dt.date) -> bytes:
    """An ADDACS or AUDDIS report of advices about single instructions."""
    record = "A" if advice_type == "ADDACS" else "N"
    body = "".join(
        f'<MessagingAdvice user-number="{SUN}" record-type="{record}"'
        + (f' effective-date="{a.effective.isoformat()}"' if a.effective else "")
        + f' reference={quoteattr(a.reference)} payer-name={quoteattr(a.payer_name)} payer-account-number="12345678" '
        f'payer-sort-code="112233" reason-code="{a.code}"'
        + (f' transaction-code="{a.transaction_code}"' if a.transaction_code else "")
        + (f' aosn="{a.aosn}"' if a.aosn else "") + "/>" for a in advices) + "<MessagingError/>"
    seqs = [a.aosn for a in advices if a.aosn]
    return _messaging_document(advice_type, reported, body, min(seqs, default="0"), max(seqs, default="0"))


def auddis_lodgement(serial: str, *, accepted: bool, reported: dt.date, processing: dt.date, lodged: int,
                     rejected: int = 0, error_code: str = "0", error: str | None = None, file_number: str = "001",
                     aosn: str = "1") -> bytes:
    """The file-level AUDDIS report on one lodgement: AUDACC (record V) or AUDREJ (record R)."""
    body = (f'<MessagingAdvice user-number="{SUN}" record-type="{"V" if accepted else "R"}" aosn="{aosn}" '
            f'processing-date="{processing.isoformat()}" originator-file-number="{file_number}" work-code="1 DAILY" '
            f'file-type="LIVE" accepted-ddi="{lodged if accepted else 0}" rejected-ddi="{rejected}" '
            f'vol-serial-number="{serial}" file-error-code="{error_code}"/>'
            + (f"<MessagingError line1={quoteattr(error)}/>" if error else '<MessagingError line1="0" line3="0" line2="0"/>'))
    return _messaging_document("AUDACC" if accepted else "AUDREJ", reported, body)


# ---- camt.052 / .053 / .054 ----------------------------------------------------------------

@dataclass
class Tx:
    amount_pence: int
    reference: str = ""
    payer: str | None = "A PAYER"
    end_to_end: str = "NOTPROVIDED"
    structured: bool = False
    ccy: str = "GBP"  # of its TxAmt
    instructed: tuple[int, str] | None = None  # InstdAmt (pence, currency), e.g. what a payer abroad sent
    codes: tuple[str, str] | None = None  # its own BkTxCd (family, sub-family)
    returned: str | None = None  # RtrInf reason code: a payment of ours coming back
    creditor: str | None = None


@dataclass
class Entry:
    acct_ref: str | None
    amount_pence: int | None = None  # the sum of its transactions by default
    side: str = "CRDT"
    reversal: bool = False
    value_date: dt.date = dt.date(2026, 10, 5)
    family: str | None = "RCDT"  # None: no domain code (proprietary only, or none)
    sub_family: str = "DMCT"
    status: str = "BOOK"
    txs: list[Tx] = field(default_factory=list)
    tx_amounts: bool = True
    ccy: str = "GBP"
    narrative: str | None = None  # AddtlNtryInf
    proprietary: str | None = None  # BkTxCd/Prtry/Cd
    ntry_ref: str | None = None


CAMT_MESSAGES = {"camt053": ("BkToCstmrStmt", "Stmt", "camt.053.001.02"),
                 "camt052": ("BkToCstmrAcctRpt", "Rpt", "camt.052.001.02"),
                 "camt054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn", "camt.054.001.02")}


def _codes(family: str | None, sub_family: str, proprietary: str | None = None) -> str:
    domain = (f"<Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub_family}</SubFmlyCd></Fmly></Domn>"
              if family else "")
    prtry = f"<Prtry><Cd>{escape(proprietary)}</Cd><Issr>BANK</Issr></Prtry>" if proprietary else ""
    return f"<BkTxCd>{domain}{prtry}</BkTxCd>" if domain or prtry else ""


def camt_entry(e: Entry) -> str:
    total = e.amount_pence if e.amount_pence is not None else sum(t.amount_pence for t in e.txs)
    txs = ""
    for t in e.txs:
        rmt = (f"<Strd><CdtrRefInf><Ref>{escape(t.reference)}</Ref></CdtrRefInf></Strd>" if t.structured
               else f"<Ustrd>{escape(t.reference)}</Ustrd>") if t.reference else ""
        amounts = ((f'<InstdAmt><Amt Ccy="{t.instructed[1]}">{money(t.instructed[0])}</Amt></InstdAmt>'
                    if t.instructed else "")
                   + (f'<TxAmt><Amt Ccy="{t.ccy}">{money(t.amount_pence)}</Amt></TxAmt>' if e.tx_amounts else ""))
        parties = ((f"<Dbtr><Nm>{escape(t.payer)}</Nm></Dbtr>" if t.payer else "")
                   + (f"<Cdtr><Nm>{escape(t.creditor)}</Nm></Cdtr>" if t.creditor else ""))
        txs += ("<TxDtls><Refs><EndToEndId>" + escape(t.end_to_end) + "</EndToEndId></Refs>"
                + (f"<AmtDtls>{amounts}</AmtDtls>" if amounts else "")
                + (_codes(*t.codes) if t.codes else "")
                + (f"<RltdPties>{parties}</RltdPties>" if parties else "")
                + (f"<RmtInf>{rmt}</RmtInf>" if rmt else "")
                + (f"<RtrInf><Rsn><Cd>{t.returned}</Cd></Rsn><AddtlInf>RETURNED</AddtlInf></RtrInf>" if t.returned else "")
                + "</TxDtls>")
    return ((f"<Ntry><NtryRef>{escape(e.ntry_ref)}</NtryRef>" if e.ntry_ref else "<Ntry>")
            + f'<Amt Ccy="{e.ccy}">{money(total)}</Amt><CdtDbtInd>{e.side}</CdtDbtInd>'
            + ("<RvslInd>true</RvslInd>" if e.reversal else "")
            + f"<Sts>{e.status}</Sts><BookgDt><Dt>{e.value_date.isoformat()}</Dt></BookgDt>"
            f"<ValDt><Dt>{e.value_date.isoformat()}</Dt></ValDt>"
            + (f"<AcctSvcrRef>{escape(e.acct_ref)}</AcctSvcrRef>" if e.acct_ref else "")
            + _codes(e.family, e.sub_family, e.proprietary) + (f"<NtryDtls>{txs}</NtryDtls>" if txs else "")
            + (f"<AddtlNtryInf>{escape(e.narrative)}</AddtlNtryInf>" if e.narrative else "") + "</Ntry>")


def camt_head(stmt_id: str = "STMT-1", message: str = "camt053", account: str = LANDLORD_ACCOUNT) -> str:
    root, block, version = CAMT_MESSAGES[message]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{version}">'
            f"<{root}><GrpHdr><MsgId>MSG-{escape(stmt_id)}</MsgId><CreDtTm>2026-10-06T06:00:00</CreDtTm></GrpHdr>"
            f"<{block}><Id>{escape(stmt_id)}</Id><Acct><Id><Othr><Id>{escape(account)}</Id></Othr></Id></Acct>")


def camt_tail(message: str = "camt053") -> str:
    root, block, _ = CAMT_MESSAGES[message]
    return f"</{block}></{root}></Document>\n"


CAMT_TAIL = camt_tail()


def camt(entries: Iterable[Entry], *, message: str = "camt053", stmt_id: str = "STMT-1",
         account: str = LANDLORD_ACCOUNT) -> bytes:
    """A camt.053 statement, camt.052 account report or camt.054 notification of `entries`."""
    return (camt_head(stmt_id, message, account) + "".join(camt_entry(e) for e in entries) + camt_tail(message)).encode()


def camt053(entries: Iterable[Entry], *, stmt_id: str = "STMT-1") -> bytes:
    return camt(entries, stmt_id=stmt_id)


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
