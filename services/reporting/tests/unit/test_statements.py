import datetime as dt
import uuid

import pytest

from rentflow_reporting.domain.statements import (BadQuarter, PostingRow, build_statement, csv_rows, money,
                                                  needs_statement, parse_quarter, quarter_name)

D = dt.date
UTC = dt.timezone.utc


@pytest.mark.parametrize("text,start,end", [
    ("2026-Q1", D(2026, 4, 1), D(2026, 6, 30)), ("2026-Q2", D(2026, 7, 1), D(2026, 9, 30)),
    ("2026-Q3", D(2026, 10, 1), D(2026, 12, 31)), ("2026-Q4", D(2027, 1, 1), D(2027, 3, 31)),
])
def test_quarters_are_financial_year_quarters(text, start, end):
    p = parse_quarter(text)
    assert (p.start, p.end, quarter_name(p)) == (start, end, text)


@pytest.mark.parametrize("bad", ["2026-Q5", "2026Q3", "Q3-2026", "2026-q0", ""])
def test_a_bad_quarter_is_named(bad):
    with pytest.raises(BadQuarter, match=f"got {bad!r}"):
        parse_quarter(bad)


def row(day, code, amount, hour=12):
    return PostingRow(uuid.uuid4(), day, dt.datetime.combine(day, dt.time(hour), UTC), code, amount, "s")


def test_running_balance_from_the_opening_balance_in_value_date_order():
    q = parse_quarter("2026-Q3")
    # given out of order; a correction back-dated to 3 Oct posted later still sorts by its date
    postings = [row(D(2026, 10, 12), "DBR", 12000), row(D(2026, 10, 5), "DBR", 12000),
                row(D(2026, 10, 5), "RSO", -12000, hour=14), row(D(2026, 10, 3), "WON", -500, hour=23)]
    s = build_statement("A1", "Jo", "1 Road", q, 2500, postings)
    # 2500 − 500 = 2000; + 12000 = 14000; − 12000 = 2000; + 12000 = 14000
    assert [(x.date.day, x.type_code, x.meaning, x.balance_pence) for x in s.lines] == [
        (3, "WON", "Adjustment", 2000), (5, "DBR", "Rent", 14000), (5, "RSO", "Standing order", 2000),
        (12, "DBR", "Rent", 14000)]
    assert s.closing_pence == s.opening_pence + sum(p.amount_pence for p in postings) == 14000
    assert (s.debits_pence, s.credits_pence) == (24000, 12500)
    rows = csv_rows(s)
    assert rows[0][3] == "Opening balance" and rows[0][-1] == 2500
    assert rows[2] == ("A1", "2026-10-05", "DBR", "Rent", 12000, "", 12000, 14000)
    assert rows[-1] == ("A1", "2026-12-31", "", "Closing balance", 24000, 12500, 11500, 14000)
    with pytest.raises(ValueError, match="outside 2026-Q3"):
        build_statement("A1", None, None, q, 0, [row(D(2027, 1, 1), "DBR", 1)])


def test_who_gets_a_statement():
    q = parse_quarter("2026-Q3")
    assert needs_statement(0, [], D(2020, 1, 1), None, q)                    # current tenancy
    assert needs_statement(0, [], D(2020, 1, 1), D(2026, 10, 1), q)          # ended during the quarter
    assert not needs_statement(0, [], D(2020, 1, 1), D(2026, 9, 30), q)      # ended before, nothing owed
    assert needs_statement(4000, [], D(2020, 1, 1), D(2026, 9, 30), q)       # former tenant who owes
    assert not needs_statement(0, [], D(2027, 1, 4), None, q)                # starts after the quarter


def test_money_shows_credit_in_words():
    assert (money(123456), money(-2500), money(0)) == ("£1,234.56", "£25.00 in credit", "£0.00")
