"""The allocation ladder's later rungs: free text, one correctable error, check digits."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from rentflow_ledger.domain.allocation import (CORRECTED_DIGIT, CORRECTED_TRANSPOSITION, REFERENCE_IN_TEXT,
                                               ReferenceIndex, allocate, one_error_candidates)
from rentflow_ledger.domain.references import CheckScheme, CheckSchemeError, tokens

INDEX = ReferenceIndex.build([("10000001", "DD0001", None), ("10000012", None, "SOX"), ("20000002", None, None),
                              ("30000003", None, None), ("30000030", None, None)])


def run(reference, channel="bank_transfer", check=None):
    return allocate(reference, channel, INDEX.accounts, INDEX.dd, so_index=INDEX.so, index=INDEX, check=check)


def test_tokens():
    assert tokens("Payment ref:1000-0001 flat 2") == ["PAYMENT", "REF", "10000001", "FLAT", "2"]
    assert "10000001" in tokens("RENT10000001")
    assert "10000001" in tokens("rent 1000 0001")
    assert tokens("") == [] and tokens(None) == []


def test_ladder_in_order():
    assert run("1000-0001") == ("10000001", "exact_reference", None)
    assert run("dd0001", "direct_debit") == ("10000001", "dd_reference", None)
    assert run("so-x", "standing_order") == ("10000012", "so_reference", None)
    assert run("SOX", "bank_transfer").account_ref is None  # SO references count for standing orders only
    assert run("RENT FOR 2000 0002 THANKS") == ("20000002", REFERENCE_IN_TEXT, None)
    assert run("rent 10000001 and 20000002").reason.startswith("ambiguous: 2 candidates (reference_in_text")
    assert run("20000020") == ("20000002", CORRECTED_TRANSPOSITION, None)  # 02 → 20 at the end
    assert run("20000007") == ("20000002", CORRECTED_DIGIT, None)
    assert run("flat 3 ref 20000007") == ("20000002", CORRECTED_DIGIT, None)  # a token with one error
    # 30000300: one digit from 30000030? no (two positions); 30000033 fits 30000003 and 30000030
    amb = run("30000033")
    assert amb.account_ref is None and amb.reason.startswith("ambiguous: 2 candidates (one correctable error")
    assert run("") == (None, None, "no reference")
    assert run("99999999").reason == "no account matches reference '99999999'"
    assert run("FLAT 2").account_ref is None  # short tokens are not corrected


def test_one_error_candidates_exclude_the_text_itself():
    assert one_error_candidates("20000002", {"20000002"}) == []
    assert one_error_candidates("AB", {"BA"}) == [("BA", CORRECTED_TRANSPOSITION)]


def test_check_digit_scheme():
    assert CheckScheme.parse("none") is None and CheckScheme.parse("") is None
    s = CheckScheme.parse("mod10:1,3,1,3,1,3,1,3,1,3")
    assert s.modulus == 10 and len(s.weights) == 10
    # docs/domain.md: check = 10 − (Σ dᵢ·wᵢ mod 10), 10 → 0
    body = "1234567890"
    total = sum(int(d) * w for d, w in zip(body, s.weights))
    assert s.check_digit(body) == (10 - total % 10) % 10
    ref = s.with_check(body)
    assert s.valid(ref) and not s.valid(ref[:-1] + str((int(ref[-1]) + 1) % 10)) and not s.valid("12")
    m11 = CheckScheme.parse("mod11:7,6,5,4,3,2")
    assert m11.valid(m11.with_check("100000"))
    for bad in ("mod9:1", "mod10:a,b", "mod10:"):
        with pytest.raises(CheckSchemeError):
            CheckScheme.parse(bad)


def test_check_digit_removes_a_candidate():
    s = CheckScheme.parse("mod10:3,1,3,1,3,1,3")
    good = s.with_check("1000000")
    other = good[:-1] + str((int(good[-1]) + 1) % 10)  # one digit away, fails the check
    idx = ReferenceIndex.build([(good, None, None), (other, None, None)])
    typo = good[:-2] + str((int(good[-2]) + 1) % 10) + good[-1]  # one wrong digit from `good` only
    assert allocate(typo, "card", idx.accounts, {}, index=idx, check=s).account_ref == good
    # both refs are one error from a text that differs from each in the last digit
    text = good[:-1] + str((int(good[-1]) + 2) % 10)
    assert allocate(text, "card", idx.accounts, {}, index=idx).reason.startswith("ambiguous: 2")
    assert allocate(text, "card", idx.accounts, {}, index=idx, check=s).account_ref == good


refs = st.text(alphabet="0123456789", min_size=8, max_size=8)


@given(st.sets(refs, min_size=1, max_size=30), st.data())
def test_exact_always_wins_and_never_guesses(known, data):
    idx = ReferenceIndex.build([(r, None, None) for r in known])
    target = data.draw(st.sampled_from(sorted(known)))
    assert allocate(target, "card", idx.accounts, {}, index=idx) == (target, "exact_reference", None)
    # a transposition of a known reference: allocated only when exactly one known ref fits
    i = data.draw(st.integers(0, 6))
    typo = target[:i] + target[i + 1] + target[i] + target[i + 2:]
    assume(typo not in known)
    got = allocate(typo, "card", idx.accounts, {}, index=idx)
    fits = {c for c, _ in one_error_candidates(typo, idx.accounts)}
    assert target in fits
    if len(fits) == 1:
        assert got.account_ref == target
    else:
        assert got.account_ref is None and got.reason.startswith(f"ambiguous: {len(fits)} candidates")


@given(st.text(max_size=40))
def test_any_text_gives_an_allocation_or_a_reason(text):
    got = run(text)
    assert (got.account_ref is None) == (got.reason is not None)
    if got.account_ref is not None:
        assert got.account_ref in INDEX.accounts and got.rule
