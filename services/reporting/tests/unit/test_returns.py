import datetime as dt
from decimal import Decimal

import pytest

from rentflow_reporting.domain.kpi import Position, compute_kpis, period_totals
from rentflow_reporting.domain.periods import Selection
from rentflow_reporting.domain.returns import benchmark, financial_year, lahs_rent_arrears, rent_only_debit

D = dt.date


def test_financial_year_runs_april_to_march_and_refuses_nonsense():
    p = financial_year(2026)
    assert (p.start, p.end, p.label) == (D(2026, 4, 1), D(2027, 3, 31), "2026/27")
    with pytest.raises(ValueError, match="year must be a financial year's starting year"):
        financial_year(26000)


def test_rent_only_debit_leaves_out_garages_court_costs_and_rechargeable_repairs():
    assert rent_only_debit({"DBR": 100000, "DSC": 5000, "DGA": 900, "DCC": 30000, "DRR": 1200}) == 105000


def test_extracts_from_a_year_snapshot():
    year = financial_year(2026)
    totals = period_totals([("debit", "DBR", 600000, 50), ("debit", "DGA", 20000, 10),   # due 620000
                            ("collected", "direct_debit", 558000, 40), ("written_off", "WOF", 6200, 1)])
    position = Position(arrears_brought_forward_pence=31000, current_tenant_arrears_pence=24800,
                        former_tenant_arrears_pence=12400, current_tenancies=10, dd_tenancies=4,
                        annual_rent_debit_pence=620000, tenants_over_7_weeks_arrears=1,
                        current_tenancies_in_arrears=3)
    s = compute_kpis(Selection(year, year.end, True), totals, position, as_of=D(2027, 4, 1))
    lahs = {i["item"]: i["value"] for i in lahs_rent_arrears(s)["items"]}
    assert lahs["rent_due"] == 620000 and lahs["rent_due_rent_only"] == 600000
    assert lahs["rent_collected_pct"] == Decimal("90.00")                # 558000 / 620000
    assert (lahs["current_tenancies_in_arrears"], lahs["written_off"]) == (3, 6200)
    b = {i["item"]: i["value"] for i in benchmark(s)["items"]}
    assert b["rent_collected_pct_incl_arrears_bf"] == Decimal("85.71")   # 558000 / (620000 + 31000) = 85.714…
    assert b["current_tenant_arrears_pct_of_debit"] == Decimal("4.00")   # 24800 / 620000
    assert b["former_tenant_arrears_pct_of_debit"] == Decimal("2.00")    # 12400 / 620000
    assert b["written_off_pct_of_debit"] == Decimal("1.00")              # 6200 / 620000
    assert (b["dd_take_up_pct"], b["tenants_over_7_weeks_arrears_pct"]) == (Decimal("40.00"), Decimal("10.00"))
