"""Property-based: files written from generated values parse back to those values; malformed input
to every parser gives only clear errors — `Unreadable` before anything is yielded, or per-item
errors — never a crash, never an unreadable verdict after items were handed out (which would be a
partial post)."""
import datetime as dt
import io
import random

from hypothesis import HealthCheck, given, settings, strategies as st

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


xml_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40)


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


D = dt.date(2026, 5, 1)
VALID = {
    "bacs18": s.bacs18([s.S18("17", 12000, "REF1"), s.S18("0N", 0, "REF2"), s.S18("99", 50, "REF3")], day=D),
    "arudd": s.arudd([s.Returned("REF1", 100, D), s.Returned("REF2", 200, D, "F21")], reported=D),
    "ddica": s.ddica([s.Claim("S1", "REF1", [(D, 100)])], reported=D),
    "addacs": s.messaging([s.Advice("REF1", "1", D), s.Advice("REF2", "E")], advice_type="ADDACS", reported=D),
    "auddis": s.messaging([s.Advice("REF1", "L", transaction_code="0N")], advice_type="AUDDIS", reported=D),
    "camt053": s.camt053([s.Entry("A1", txs=[s.Tx(100, "R"), s.Tx(200, "S")]),
                          s.Entry("A2", side="DBIT", reversal=True, txs=[s.Tx(100, "R")])]),
    "csv": s.cash_csv([{"transaction_id": "T1", "paid_at": "2026-10-06", "amount": "1.00", "reference": "R"}]),
    "bank-csv": s.bank_csv([("06/10/2026", "FPI", "R", "", "1.00", "2.00")]),
    "govuk-pay": s.govuk_replay([s.govuk_event("p1", "card_payment_succeeded", 100, "R")]),
    "json": b'[{"provider_ref": "a", "amount_pence": 1}]',
}


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
@given(st.sampled_from(sorted(VALID)), st.sampled_from(sorted(VALID)), st.integers(0, 2**32))
def test_fuzz_every_parser_sees_only_clear_errors(name, source, seed):
    rnd = random.Random(seed)
    only_clear_errors(name, mutate(VALID[source], rnd))  # other formats' files, mutated, too


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.binary(max_size=300))
def test_fuzz_random_bytes(name, data):
    only_clear_errors(name, data)


def test_every_format_is_recognised_by_auto():
    for name, data in VALID.items():
        assert formats.resolve("auto", data[:formats.SNIFF_BYTES]).name == name
