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
            "R2,,2 St,N,2024-13-01,12.50,0\n"
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
