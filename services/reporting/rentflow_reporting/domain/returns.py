"""Annual extracts from a financial year's KPI snapshot: the rent arrears figures of the
government's Local Authority Housing Statistics (LAHS) return, and a benchmarking set in the
style of HouseMark's rent collection measures. Pure: a year snapshot in, a list of items out,
each with its definition beside the figure.

What is known and what is assumed is in services/reporting/README.md ("Returns"). In short:
LAHS asks for the financial year (1 April – 31 March) and a 31 March snapshot; arrears are the
gross debts of tenants (credits not netted); rent collected is compared with rent due. The item
labels here are descriptive, not the form's cell numbers."""
from __future__ import annotations

import datetime as dt
from typing import Any

from rentflow_reporting.domain.kpi import pct
from rentflow_reporting.domain.periods import Period, period_containing

# Debits that are not rent or a rent-related service charge: garages, court costs and
# rechargeable repairs. Official arrears statistics leave them out (e.g. the Welsh Government's
# social housing rent arrears collection: "excludes arrears on garages and arrears for court
# costs or rechargeable repairs").
NON_RENT_DEBIT_CODES = frozenset({"DGA", "DCC", "DRR"})


def financial_year(year: int) -> Period:
    """`2026` → 1 April 2026 – 31 March 2027 (the year 2026/27)."""
    if not 1900 <= year <= 9998:
        raise ValueError(f"year must be a financial year's starting year such as 2026, not {year}")
    return period_containing("year", dt.date(year, 4, 1))


def _item(item: str, label: str, value: Any, unit: str, definition: str) -> dict[str, Any]:
    return {"item": item, "label": label, "value": value, "unit": unit, "definition": definition}


def _header(snapshot: dict[str, Any], kind: str) -> dict[str, Any]:
    return {"return": kind, "year": snapshot["period_label"], "period_start": snapshot["period_start"],
            "period_end": snapshot["period_end"], "through": snapshot["through"], "complete": snapshot["complete"]}


def rent_only_debit(debit_by_type: dict[str, int]) -> int:
    return sum(v for code, v in debit_by_type.items() if code not in NON_RENT_DEBIT_CODES)


def lahs_rent_arrears(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The LAHS rent arrears figures for the year of `snapshot` (a year KPI snapshot)."""
    s = snapshot
    debit = s["debit_pence"]
    items = [
        _item("rent_due", "Rent due: rent and charges debited in the year", debit, "pence",
              "debit raised with a business date from 1 April to 31 March (DBR DSC DHE DWR DGA DCI DCC DRR); "
              "opening balances are arrears brought forward, not rent due"),
        _item("rent_due_rent_only", "Rent due excluding garages, court costs and rechargeable repairs",
              rent_only_debit(s.get("debit_by_type", {})), "pence",
              "rent_due less DGA, DCC and DRR debits (the non-rent debts official arrears figures leave out)"),
        _item("rent_collected", "Rent collected in the year", s["collected_pence"], "pence",
              s["definitions"]["collected_pence"]),
        _item("rent_collected_pct", "Rent collected as a percentage of rent due",
              s["rent_collected_pct_excl_arrears_bf"], "percent", "rent_collected / rent_due × 100"),
        _item("arrears_brought_forward", "Arrears at 1 April (brought forward)", s["arrears_brought_forward_pence"],
              "pence", s["definitions"]["arrears_brought_forward_pence"]),
        _item("current_tenant_arrears", "Current tenant arrears at 31 March", s["current_tenant_arrears_pence"],
              "pence", s["definitions"]["current_tenant_arrears_pence"]),
        _item("current_tenancies_in_arrears", "Current tenancies in arrears at 31 March",
              s.get("current_tenancies_in_arrears"), "count", "current tenancies whose balance is above zero"),
        _item("tenancies_over_7_weeks_arrears", "Current tenancies more than 7 weeks in arrears at 31 March",
              s["tenants_over_7_weeks_arrears"], "count", s["definitions"]["tenants_over_7_weeks_arrears"]),
        _item("former_tenant_arrears", "Former tenant arrears at 31 March", s["former_tenant_arrears_pence"],
              "pence", s["definitions"]["former_tenant_arrears_pence"]),
        _item("written_off", "Arrears written off in the year", s["written_off_pence"], "pence",
              s["definitions"]["written_off_pence"]),
    ]
    return {**_header(s, "lahs_rent_arrears"), "items": items}


def benchmark(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Rent collection measures in the style of HouseMark's, for the year of `snapshot`.
    Denominators are the year's own rent debit (not the annualised weekly roll the KPI
    snapshot uses), as benchmarking clubs ask."""
    s = snapshot
    debit = s["debit_pence"]
    items = [
        _item("rent_collected_pct_excl_arrears_bf", "Rent collected as % of rent due (excluding arrears b/f)",
              s["rent_collected_pct_excl_arrears_bf"], "percent", "rent collected in the year / rent due in the year "
              "× 100"),
        _item("rent_collected_pct_incl_arrears_bf", "Rent collected as % of rent due (including arrears b/f)",
              s["rent_collected_pct_incl_arrears_bf"], "percent", "rent collected / (rent due + arrears at 1 April) "
              "× 100"),
        _item("current_tenant_arrears_pct_of_debit", "Current tenant arrears as % of rent debit",
              pct(s["current_tenant_arrears_pence"], debit), "percent",
              "current tenant arrears at 31 March / rent due in the year × 100"),
        _item("former_tenant_arrears_pct_of_debit", "Former tenant arrears as % of rent debit",
              pct(s["former_tenant_arrears_pence"], debit), "percent",
              "former tenant arrears at 31 March / rent due in the year × 100"),
        _item("written_off_pct_of_debit", "Rent arrears written off as % of rent debit",
              pct(s["written_off_pence"], debit), "percent", "written off in the year / rent due in the year × 100"),
        _item("dd_take_up_pct", "Tenancies paying by Direct Debit (%)", s["dd_take_up_pct"], "percent",
              s["definitions"]["dd_take_up_pct"]),
        _item("tenants_over_7_weeks_arrears_pct", "Tenancies more than 7 weeks in arrears (%)",
              s.get("tenants_over_7_weeks_arrears_pct"), "percent",
              "current tenancies more than 7 weeks in arrears / current tenancies × 100"),
        _item("rent_due", "Rent due in the year (the denominator)", debit, "pence",
              "as LAHS rent_due"),
    ]
    return {**_header(s, "benchmark"), "items": items}

