import datetime as dt
from decimal import Decimal

from rentflow_reporting.domain.kpi import DEFINITIONS, Position, age_bands, compute_kpis, pct, period_totals
from rentflow_reporting.domain.periods import select_period

D = dt.date


def test_pct_rounds_half_up_to_two_places_and_is_none_without_a_denominator():
    assert pct(1, 3) == Decimal("33.33")        # 33.333…
    assert pct(2, 3) == Decimal("66.67")        # 66.666…
    assert pct(1, 8) == Decimal("12.50")        # 12.5 exactly, kept with two places
    assert pct(1, 800) == Decimal("0.13")       # 0.125 → half up
    assert pct(5, 0) is None
    assert pct(0, 5) == Decimal("0.00")


def test_age_bands():
    # ages 0 and 7 → 0–7 days; 8 and 29 → 8–30; 31 → 31–90; 91 and 400 → over 90
    rows = [(0, 1, 100), (7, 2, 200), (8, 1, 10), (29, 1, 700), (31, 1, 5), (91, 1, 1), (400, 3, 3)]
    assert age_bands(rows) == {"0_7_days": {"count": 3, "pence": 300}, "8_30_days": {"count": 2, "pence": 710},
                               "31_90_days": {"count": 1, "pence": 5}, "over_90_days": {"count": 4, "pence": 4}}


def test_kpis_from_hand_built_aggregates():
    rows = [
        ("debit", "DBR", 50000, 4), ("debit", "DSC", 3000, 2),              # debit 53000
        ("collected", "direct_debit", 15000, 2), ("collected", "direct_debit", -11000, 0),
        ("collected", "standing_order", 12000, 1), ("collected", "card", 3000, 1),
        ("collected", "housing_benefit", 5000, 1), ("collected", "bank_transfer", 2500, 1),
        ("collected", "cash", 700, 1),                                       # collected 27200
        ("dd_presented", "", 15000, 2), ("dd_unpaid", "", 11000, 1),
        ("written_off", "WOF", 10000, 1),
        ("receipt_manual", "RBP", 2500, 1), ("opening", "DBR", 115000, 3),   # not in any KPI flow
    ]
    totals = period_totals(rows)
    position = Position(arrears_brought_forward_pence=115000, current_tenant_arrears_pence=105000,
                        former_tenant_arrears_pence=26500, current_tenancies=3, dd_tenancies=1,
                        annual_rent_debit_pence=33000 * 52, tenants_over_7_weeks_arrears=1,
                        suspense_count=1, suspense_pence=700, suspense_age_bands=age_bands([(29, 1, 700)]))
    s = compute_kpis(select_period("month", D(2026, 10, 31), D(2026, 10, 2)), totals, position, as_of=D(2026, 10, 31))
    assert (s["period"], s["period_start"], s["period_end"], s["complete"]) == ("month", D(2026, 10, 1),
                                                                                D(2026, 10, 31), True)
    assert s["debit_pence"] == 53000
    # 15000 − 11000 + 12000 + 3000 + 5000 + 2500 + 700 = 27200
    assert s["collected_pence"] == 27200
    assert s["collected_by_channel"] == {"bank_transfer": 2500, "card": 3000, "cash": 700, "direct_debit": 4000,
                                         "housing_benefit": 5000, "standing_order": 12000}
    assert s["rent_collected_pct_excl_arrears_bf"] == Decimal("51.32")   # 27200 / 53000 = 51.3207…%
    assert s["rent_collected_pct_incl_arrears_bf"] == Decimal("16.19")   # 27200 / (53000 + 115000) = 16.1905…%
    assert s["annual_rent_debit_pence"] == 1716000                       # 33000 × 52
    assert s["current_tenant_arrears_pct"] == Decimal("6.12")            # 105000 / 1716000 = 6.1189…%
    assert s["former_tenant_arrears_pct"] == Decimal("1.54")             # 26500 / 1716000 = 1.5443…%
    assert s["written_off_pct"] == Decimal("0.58")                       # 10000 / 1716000 = 0.5828…%
    assert s["dd_take_up_pct"] == Decimal("33.33")                       # 1 / 3
    assert (s["dd_failures"], s["dd_collections_presented"]) == (1, 2)
    assert s["dd_failure_rate_pct"] == Decimal("50.00")                  # 1 / 2
    assert s["dd_failure_value_rate_pct"] == Decimal("73.33")            # 11000 / 15000 = 73.333…%
    assert s["tenants_over_7_weeks_arrears_pct"] == Decimal("33.33")     # 1 / 3
    assert (s["suspense_count"], s["suspense_pence"]) == (1, 700)
    assert s["suspense_age_bands"]["8_30_days"] == {"count": 1, "pence": 700}
    assert set(s["definitions"]) >= {k for k in s if k not in ("definitions", "period_label", "as_of",
                                                               "debit_by_type")}
    assert s["definitions"] == DEFINITIONS


def test_empty_period_gives_nulls_not_errors():
    s = compute_kpis(select_period("week", D(2026, 10, 15), None), period_totals([]), Position(),
                     as_of=D(2026, 10, 15))
    assert s["complete"] is False and s["through"] == D(2026, 10, 15)
    for key in ("rent_collected_pct_excl_arrears_bf", "rent_collected_pct_incl_arrears_bf", "dd_take_up_pct",
                "dd_failure_rate_pct", "current_tenant_arrears_pct", "written_off_pct"):
        assert s[key] is None
    assert s["collected_pence"] == 0 and s["collected_by_channel"] == {}
