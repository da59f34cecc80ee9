"""Property-based: files written from generated values parse back to those values; malformed input
to every parser gives only clear errors — `Unreadable` before anything is yielded, or per-item
errors — never a crash, never an unreadable verdict after items were handed out (which would be a
partial post)."""
import datetime as dt
import io
import random
from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings, strategies as st

from rentflow_payments import samples as s
from rentflow_payments.domain import formats
from rentflow_payments.domain.formats import Parsed, Unreadable

BACS_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.&/-"
bacs_text = st.text(BACS_CHARS, min_size=1, max_size=18).filter(lambda t: not t.startswith("CONTRA"))
days = st.dates(dt.date(2001, 1, 1), dt.date(2098, 12, 31))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(name: str, data: bytes, **options) -> list[Parsed]:
    return list(formats.FORMATS[name].parse(io.BytesIO(data), options))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["01", "17", "18", "19"]), st.integers(1, 10**10), bacs_text, bacs_text),
                min_size=1, max_size=30), days, st.booleans(), st.booleans(), st.booleans())
def test_standard18_round_trip(records, day, labels, multi_day, crlf):
    recs = [s.S18(code, amount, ref, name, day=day if multi_day else None) for code, amount, ref, name in records]
    out = parse("bacs18", s.bacs18(recs, day=day, labels=labels, crlf=crlf), processing_date=day.isoformat())
    pays = [p.value for p in out if p.type == "payment"]
    assert [(p["reference"], p["amount_pence"], p["payer_name"]) for p in pays] == [
        (r.reference, r.amount_pence, r.payer_name) for r in recs]
    assert {p["paid_at"][:10] for p in pays} == {day.isoformat()}
    assert len({p["provider_ref"] for p in pays}) == len(pays)
    assert not [p for p in out if p.error or p.type == "warning"]  # contras and UTL1 totals agree


# XML 1.0's Char: no surrogates, no control characters, and not U+FFFE or U+FFFF
xml_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="\ufffe\uffff"),
                   max_size=40)


@SETTINGS
@given(st.lists(st.lists(st.tuples(st.integers(1, 10**9), xml_text), min_size=1, max_size=4), min_size=1,
                max_size=10), days)
def test_camt053_round_trip(entries, day):
    data = s.camt053([s.Entry(f"R{n}", value_date=day, txs=[s.Tx(a, ref) for a, ref in txs])
                      for n, txs in enumerate(entries)])
    out = parse("camt053", data)
    assert [(p.value["amount_pence"], p.value["reference"]) for p in out] == [
        (a, " ".join(ref.split())[:140]) for txs in entries for a, ref in txs]
    assert [p.position for p in out] == list(range(1, len(out) + 1))


csv_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=30)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 10**9), csv_text.filter(lambda t: t.strip() == t)), min_size=1, max_size=20))
def test_cash_csv_round_trip(rows):
    data = s.cash_csv([{"transaction_id": f"T{n}", "paid_at": "2026-10-06T10:00:00Z", "amount": s.money(a),
                        "reference": ref.replace('"', '""')} for n, (a, ref) in enumerate(rows)])
    out = parse("csv", data)
    assert [(p.value["amount_pence"], p.value["reference"]) for p in out] == [
        (a, " ".join(ref.split())[:140]) for a, ref in rows]


money_tx = st.tuples(st.integers(0, 10**7), st.sampled_from(["GBP", "GBP", "EUR"]),
                    st.one_of(st.none(), st.tuples(st.integers(1, 10**7), st.sampled_from(["GBP", "EUR", "USD"]))))


@SETTINGS
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(1, 10**8)), st.lists(money_tx, max_size=4), st.booleans(),
                          st.booleans()), min_size=1, max_size=12))
def test_what_is_taken_in_is_always_the_entry_amount(entries):
    """Whatever a bank puts in TxDtls (amounts short or over, other currencies, InstdAmt, none), the
    payments and returns an entry gives add up to its booked amount: never more, never less."""
    made = [s.Entry(f"E{n}", amount_pence=amount, tx_amounts=with_amounts,
                    family="ICDT" if returned else "RCDT", sub_family="RRTN" if returned else "DMCT",
                    txs=[s.Tx(a, f"REF {n}", ccy=ccy, instructed=instd) for a, ccy, instd in txs])
            for n, (amount, txs, with_amounts, returned) in enumerate(entries)]
    booked = {f"camt053:{e.acct_ref}": e.amount_pence if e.amount_pence is not None else sum(t.amount_pence for t in e.txs)
              for e in made}
    taken: dict[str, int] = defaultdict(int)
    for p in parse("camt053", s.camt053(made)):
        assert p.error is None, p.error
        if p.type in ("payment", "reversal"):
            ref = p.value.get("provider_ref") or p.value["identity"]
            taken[ref.split(":")[0] + ":" + ref.split(":")[1]] += p.value["amount_pence"]
    assert dict(taken) == {ref: pence for ref, pence in booked.items() if pence}


unreferenced = st.lists(st.tuples(st.integers(1, 5000), st.sampled_from(["", "10000010", "10000028"]),
                                  st.sampled_from(["A", "B"]), st.sampled_from([None, "E2E-1", "E2E-2"])),
                        min_size=1, max_size=15)


@SETTINGS
@given(unreferenced, st.randoms(use_true_random=False))
def test_entries_without_bank_references_keep_their_identity_in_any_order(rows, rnd):
    """The same statement re-sent with its entries in another order is the same payments: nothing
    posts twice, nothing is lost (identical entries stay as many as they are)."""
    entries = [s.Entry(None, txs=[s.Tx(a, ref, payer, e2e or "NOTPROVIDED")]) for a, ref, payer, e2e in rows]
    first = [p.value["provider_ref"] for p in parse("camt053", s.camt053(entries))]
    rnd.shuffle(entries)
    again = [p.value["provider_ref"] for p in parse("camt053", s.camt053(entries, stmt_id="RESENT"))]
    assert len(set(first)) == len(first) and Counter(first) == Counter(again)
    # the same credits notified one by one (camt.054) or reported intraday (camt.052) are the same payments
    notified = [p.value["provider_ref"] for e in entries for p in parse("camt054", s.camt([e], message="camt054"))]
    assert set(notified) <= set(first)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(["10000010", "10000028"]), st.integers(1, 999),
                          st.sampled_from(["0128", "1012", "F21", "0", "Z9"])), min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_a_reissued_bacs_report_is_the_same_items(items, rnd):
    returns = [s.Returned(ref, pence, D, code) for ref, pence, code in items]
    first = Counter(p.value["identity"] for p in parse("arudd", s.arudd(returns, reported=D)) if p.type == "return")
    rnd.shuffle(returns)
    again = Counter(p.value["identity"] for p in parse("arudd", s.arudd(returns, reported=D + dt.timedelta(days=3),
                                                                       advice="00002")) if p.type == "return")
    assert first == again and sum(first.values()) == len(items)  # every item taken, unknown codes too
    advices = [s.Advice(ref, "1", D, aosn=f"{n:08d}") for n, (ref, _, _) in enumerate(items)]
    first = {p.value["identity"] for p in parse("addacs", s.messaging(advices, advice_type="ADDACS", reported=D))}
    rnd.shuffle(advices)
    later = s.messaging(advices, advice_type="ADDACS", reported=D + dt.timedelta(days=7))
    assert {p.value["identity"] for p in parse("addacs", later)} == first and len(first) == len(items)


D = dt.date(2026, 5, 1)
VALID = {
    "bacs18": s.bacs18([s.S18("17", 12000, "REF1"), s.S18("0N", 0, "REF2"), s.S18("99", 50, "REF3")], day=D),
    "arudd": s.arudd([s.Returned("REF1", 100, D, "0128"), s.Returned("REF2", 200, D, "F21")], reported=D),
    "ddica": s.ddica([s.Claim("S1", "REF1", [(D, 100)])], reported=D, cancellations=[s.Claim("S2", "REF2", [(D, 5)])]),
    "addacs": s.messaging([s.Advice("REF1", "1", D, aosn="1"), s.Advice("REF2", "E")], advice_type="ADDACS", reported=D),
    "auddis": s.auddis_lodgement("000001", accepted=False, reported=D, processing=D, lodged=1, rejected=1,
                                 error_code="30264", error="USER STATUS"),
    "camt053": s.camt053([s.Entry("A1", txs=[s.Tx(100, "R"), s.Tx(200, "S")]),
                          s.Entry("A2", side="DBIT", reversal=True, txs=[s.Tx(100, "R")]),
                          s.Entry(None, family="ICDT", sub_family="RRTN", txs=[s.Tx(300, "T", returned="AC04")])]),
    "camt052": s.camt([s.Entry("B1", narrative="GOV.UK PAY", txs=[])], message="camt052"),
    "camt054": s.camt([s.Entry(None, txs=[s.Tx(100, "R", instructed=(9, "EUR"))])], message="camt054"),
    "csv": s.cash_csv([{"transaction_id": "T1", "paid_at": "2026-10-06", "amount": "1.00", "reference": "R"}]),
    "bank-csv": s.bank_csv([("06/10/2026", "FPI", "R", "", "1.00", "2.00")]),
    "govuk-pay": s.govuk_replay([s.govuk_event("p1", "card_payment_succeeded", 100, "R")]),
    "json": b'[{"provider_ref": "a", "amount_pence": 1}]',
    "hb-schedule": (Path(__file__).parent.parent / "fixtures" / "hb_schedule.csv").read_bytes(),
    "uc-schedule": (Path(__file__).parent.parent / "fixtures" / "uc_schedule.csv").read_bytes(),
    "stripe-payouts": (Path(__file__).parent.parent / "fixtures" / "stripe_payout_reconciliation.csv").read_bytes(),
}
# the real layouts too (tests/fixtures/), mutated as sources for every parser
SOURCES = {**VALID, **{f.name: f.read_bytes() for f in sorted((Path(__file__).parent.parent / "fixtures").glob("*.xml"))}}


def only_clear_errors(name: str, data: bytes) -> None:
    yielded = 0
    try:
        for p in formats.FORMATS[name].parse(io.BytesIO(data), {}):
            yielded += 1
            assert isinstance(p, Parsed) and p.kind in ("line", "item") and isinstance(p.position, int)
            assert (p.error is not None) or p.value is not None or p.note is not None
            assert p.error is None or (isinstance(p.error, str) and p.error)
    except Unreadable as exc:
        assert yielded == 0, f"{name}: unreadable after {yielded} items were handed out: {exc}"
        assert str(exc)


def mutate(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 6)):
        op = rnd.randrange(5)
        i = rnd.randrange(len(b) + 1)
        if op == 0:
            b = b[:i]  # truncated
        elif op == 1 and b:
            b[min(i, len(b) - 1)] = rnd.randrange(256)
        elif op == 2:
            b[i:i] = rnd.randbytes(rnd.randint(1, 20))
        elif op == 3:
            j = rnd.randrange(len(b) + 1)
            b[i:i] = b[min(i, j):max(i, j)][:200]  # a repeated slice
        elif b:
            del b[i:i + rnd.randint(1, 30)]
    return bytes(b)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.sampled_from(sorted(SOURCES)), st.integers(0, 2**32))
@example("addacs", "auddis_advices.xml", 513)  # a namespace name libxml2 refuses and expat took (test_xml.py)
def test_fuzz_every_parser_sees_only_clear_errors(name, source, seed):
    rnd = random.Random(seed)
    only_clear_errors(name, mutate(SOURCES[source], rnd))  # other formats' files, mutated, too


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.binary(max_size=300))
def test_fuzz_random_bytes(name, data):
    only_clear_errors(name, data)


def test_every_format_is_recognised_by_auto():
    assert set(VALID) == set(formats.FORMATS)
    for name, data in VALID.items():
        assert formats.resolve("auto", data[:formats.SNIFF_BYTES]).name == name
        only_clear_errors(name, data)
