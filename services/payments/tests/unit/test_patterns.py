"""User-given patterns run on RE2: linear time whatever the pattern, bounded in length."""
import time

import pytest

from rentflow_payments.domain.formats import Unreadable
from rentflow_payments.domain.formats.bank_csv import skip_pattern
from rentflow_payments.domain.patterns import MAX_PATTERN_CHARS, PatternError, compile_pattern


def test_a_pattern_that_freezes_python_re_runs_in_linear_time():
    # Python's re needs ~2^n steps for (a+)+$ against "aaa...b": 8 s at 26 characters
    pattern = compile_pattern("(a+)+$")
    started = time.perf_counter()
    for n in (26, 1_000, 100_000):
        assert pattern.search("a" * n + "!") is None
    assert time.perf_counter() - started < 0.5


def test_case_insensitive_and_empty():
    assert compile_pattern("paypoint|allpay").search("PAYPOINT PLC 123")
    assert compile_pattern("") is None


@pytest.mark.parametrize("text, reason", [
    ("(a)\\1", "RE2"), ("(?=x)y", "RE2"), ("((", "RE2"), ("a{1000}{1000}", "RE2"),
    ("x" * (MAX_PATTERN_CHARS + 1), f"at most {MAX_PATTERN_CHARS}"), ("a\x00b", "control"),
])
def test_refused_patterns_say_why(text, reason):
    with pytest.raises(PatternError, match=reason):
        compile_pattern(text)


def test_a_parser_given_a_bad_skip_says_so():
    with pytest.raises(Unreadable, match="skip: "):
        skip_pattern({"skip": "(a)\\1"})


def test_the_lump_sum_narratives_run_in_linear_time_over_hostile_text():
    from rentflow_payments.domain.formats.camt import lump_of

    started = time.perf_counter()
    assert lump_of(None, "DWP " * 250_000) is None  # 22 s for 20 KB of it on Python's re
    assert lump_of(None, "DWP " * 1000 + "UC") == "uc_managed_payment"
    assert time.perf_counter() - started < 1
