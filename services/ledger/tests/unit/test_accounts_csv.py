from __future__ import annotations

import datetime as dt

import pytest

from rentflow_ledger.domain.accounts import HeaderError, parse_accounts_csv

HEADER = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence"


def test_valid_rows_with_defaults_and_extra_columns():
    text = (HEADER + ",tenancy_end,weekly_charges_pence,payment_method,dd_reference,officer,balance_date,colour\n"
            "1000-0001,Ann Lee,1 High St,North,2024-04-01,12500,-300,,450,DD,ddr 0001,Sam,2026-04-05,blue\n"
            "10000002,Bob Roy,2 High St,South,2025-01-08,11000,0,2026-09-30,,,,,,\n")
    records, errors = parse_accounts_csv(text)
    assert errors == []
    a, b = records
    assert a.account_ref == "10000001" and a.opening_balance_pence == -300 and a.weekly_charges_pence == 450
    assert a.payment_method == "dd" and a.dd_reference == "DDR0001" and a.balance_date == dt.date(2026, 4, 5)
    assert b.balance_date == dt.date(2025, 1, 7) and b.tenancy_end == dt.date(2026, 9, 30)
    assert b.weekly_charges_pence == 0 and b.payment_method is None and b.officer is None
    assert a.content_hash() != b.content_hash()


def test_errors_name_line_and_field():
    text = (HEADER + "\n"
            "R1,Ann,1 St,N,2024-04-01,12500,0\n"
            "R2,,2 St,N,2024-13-01,12.5.0,0\n"
            "\n"
            "R1,Dup,3 St,N,2024-04-01,100,0\n"
            "R4,Dee,4 St,N,2024-04-01,-1,x\n")
    records, errors = parse_accounts_csv(text)
    assert [r.account_ref for r in records] == ["R1"]
    got = {(e.line, e.field) for e in errors}
    assert {(3, "tenant_name"), (3, "tenancy_start"), (3, "weekly_rent_pence"), (5, "account_ref"),
            (6, "weekly_rent_pence"), (6, "opening_balance_pence")} <= got
    assert all(e.reason for e in errors)


def test_header_problems():
    with pytest.raises(HeaderError, match="weekly_rent_pence, opening_balance_pence"):
        parse_accounts_csv("account_ref,tenant_name,property,patch,tenancy_start\nR1,a,b,c,2024-01-01\n")
    with pytest.raises(HeaderError, match="empty"):
        parse_accounts_csv("")


def test_bad_payment_method_and_end_before_start():
    text = HEADER + ",payment_method,tenancy_end\nR1,A,B,C,2024-04-01,1,0,cheque,2024-03-01\n"
    records, errors = parse_accounts_csv(text)
    assert not records and {e.field for e in errors} == {"payment_method", "tenancy_end"}


def test_uk_dates_and_pound_amounts_as_the_payment_csvs_read_them():
    text = (HEADER + ",tenancy_end,weekly_charges_pence,balance_date\n"
            "R1,Ann,1 St,N,06/04/2020,£120.50,-£25.00,5/4/27,\"£1,250.00\",06-Apr-2026\n"
            "R2,Bob,2 St,N,2020-04-06,120.50,£-3.20,,12050,\n"
            "R3,Cat,3 St,N,6 Apr 2020,12050,-2500,,0,\n")
    records, errors = parse_accounts_csv(text)
    assert errors == []
    a, b, c = records
    assert (a.tenancy_start, a.tenancy_end, a.balance_date) == (dt.date(2020, 4, 6), dt.date(2027, 4, 5),
                                                                dt.date(2026, 4, 6))
    assert (a.weekly_rent_pence, a.opening_balance_pence, a.weekly_charges_pence) == (12050, -2500, 125000)
    assert (b.weekly_rent_pence, b.opening_balance_pence, b.weekly_charges_pence) == (12050, -320, 12050)
    assert (c.tenancy_start, c.weekly_rent_pence, c.opening_balance_pence) == (dt.date(2020, 4, 6), 12050, -2500)


@pytest.mark.parametrize("column, value, words", [
    ("tenancy_start", "31/02/2020", "not a date"),
    ("tenancy_start", "0001-01-01", "outside 1900–2100"),
    ("tenancy_start", "9999-12-31", "outside 1900–2100"),
    ("tenancy_start", "06/04/2020 10:30", "without a time"),
    ("weekly_rent_pence", "£12.345", "not an amount"),
    ("weekly_rent_pence", "-£5", "must be at least 0"),
    ("opening_balance_pence", str(10**30), "a typo?"),
    ("opening_balance_pence", "£100,000,000,000.00", "a typo?"),
    ("tenancy_start", "2101-01-01", "outside 1900–2100"),
    ("weekly_rent_pence", str(2**62), "more than £10,000"),
    ("weekly_rent_pence", "£10,000.01", "more than £10,000"),
    ("weekly_charges_pence", "1000001", "more than £10,000"),
    ("tenant_name", "A\x1b[31mB", "control characters (found \\x1b)"),
    ("patch", "N\x07", "control characters (found \\x07)"),
])
def test_bad_dates_and_amounts_name_line_and_field(column, value, words):
    row = {"account_ref": "R1", "tenant_name": "A", "property": "B", "patch": "C", "tenancy_start": "2020-04-06",
           "weekly_rent_pence": "100", "opening_balance_pence": "0", column: value}
    line = ",".join(f'"{v}"' for v in row.values())
    records, errors = parse_accounts_csv(",".join(row) + "\n" + line + "\n")
    assert not records
    assert [(e.line, e.field) for e in errors] == [(2, column)] and words in errors[0].reason, errors


def test_nul_bytes_refuse_the_file():
    with pytest.raises(HeaderError, match="NUL bytes \\(line 2\\)"):
        parse_accounts_csv(HEADER + "\nR1,A\x00B,1 St,N,2024-04-01,100,0\n")
