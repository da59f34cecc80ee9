"""KPI formulas (docs/domain.md §5) from aggregate figures. Pure: the numbers come in, the
snapshot (a plain dict) goes out, with the definition of every key."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

from rentflow_reporting.domain.periods import Selection

WEEKS_PER_YEAR = 52
ARREARS_WEEKS_THRESHOLD = 7
# Suspense age bands, in whole days since the receipt's business date: (name, from, to inclusive).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("0_7_days", 0, 7), ("8_30_days", 8, 30), ("31_90_days", 31, 90), ("over_90_days", 91, None),
)
TWO_PLACES = Decimal("0.01")


def pct(numerator: int, denominator: int) -> Decimal | None:
    """numerator / denominator × 100, two decimals (half up); None when the denominator is 0."""
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class PeriodTotals:
    """Flows within the period, summed from daily_totals."""

    debit_pence: int = 0
    collected_by_channel: dict[str, int] = field(default_factory=dict)
    collected_count: int = 0
    dd_presented_count: int = 0
    dd_presented_pence: int = 0
    dd_unpaid_count: int = 0
    dd_unpaid_pence: int = 0
    returned_cheque_pence: int = 0
    written_off_pence: int = 0
    refunds_pence: int = 0
    suspense_opened_count: int = 0
    suspense_opened_pence: int = 0
    suspense_allocated_count: int = 0
    suspense_allocated_pence: int = 0
    debit_by_type: dict[str, int] = field(default_factory=dict)
    receipts_by_type: dict[str, int] = field(default_factory=dict)

    @property
    def collected_pence(self) -> int:
        return sum(self.collected_by_channel.values())


def period_totals(rows: Iterable[tuple[str, str, int, int]]) -> PeriodTotals:
    """(metric, key, amount_pence, count) rows summed over the period → PeriodTotals."""
    by: dict[str, dict[str, tuple[int, int]]] = {}
    for metric, key, amount, count in rows:
        a, c = by.setdefault(metric, {}).get(key, (0, 0))
        by.setdefault(metric, {})[key] = (a + int(amount), c + int(count))

    def amount(metric: str) -> int:
        return sum(a for a, _ in by.get(metric, {}).values())

    def count(metric: str) -> int:
        return sum(c for _, c in by.get(metric, {}).values())

    return PeriodTotals(
        debit_pence=amount("debit"),
        collected_by_channel={k: a for k, (a, _) in sorted(by.get("collected", {}).items())},
        collected_count=count("collected"),
        dd_presented_count=count("dd_presented"), dd_presented_pence=amount("dd_presented"),
        dd_unpaid_count=count("dd_unpaid"), dd_unpaid_pence=amount("dd_unpaid"),
        returned_cheque_pence=amount("returned_cheque"),
        written_off_pence=amount("written_off"),
        refunds_pence=amount("refund"),
        suspense_opened_count=count("suspense_opened"), suspense_opened_pence=amount("suspense_opened"),
        suspense_allocated_count=count("suspense_allocated"), suspense_allocated_pence=amount("suspense_allocated"),
        debit_by_type={k: a for k, (a, _) in sorted(by.get("debit", {}).items())},
        receipts_by_type={k: a for k, (a, _) in sorted(by.get("receipt", {}).items())},
    )


@dataclass(frozen=True)
class Position:
    """Stocks at the period's edges, from account state, balances and suspense items."""

    arrears_brought_forward_pence: int = 0
    current_tenant_arrears_pence: int = 0
    former_tenant_arrears_pence: int = 0
    current_tenancies: int = 0
    dd_tenancies: int = 0
    annual_rent_debit_pence: int = 0
    tenants_over_7_weeks_arrears: int = 0
    current_tenancies_in_arrears: int = 0
    suspense_count: int = 0
    suspense_pence: int = 0
    suspense_age_bands: dict[str, dict[str, int]] = field(default_factory=dict)


def age_bands(rows: Iterable[tuple[int, int, int]]) -> dict[str, dict[str, int]]:
    """(age_days, count, pence) rows → {band: {"count", "pence"}} for every band."""
    bands = {name: {"count": 0, "pence": 0} for name, _, _ in AGE_BANDS}
    for age, count, pence in rows:
        for name, low, high in AGE_BANDS:
            if age >= low and (high is None or age <= high):
                bands[name]["count"] += int(count)
                bands[name]["pence"] += int(pence)
                break
        else:  # negative age cannot happen for items opened on or before the date; keep them visible
            bands[AGE_BANDS[0][0]]["count"] += int(count)
            bands[AGE_BANDS[0][0]]["pence"] += int(pence)
    return bands


DEFINITIONS: dict[str, str] = {
    "period": "week (Monday–Sunday), month (calendar), quarter or year (financial year from 1 April; Q1 April–June)",
    "period_start": "first day of the period (Europe/London business date)",
    "period_end": "last day of the period; when complete is false the figures run only to `through`",
    "through": "last business date included in the figures",
    "complete": "true when the period has ended on or before as_of; false for the current period to date",
    "debit_pence": "rent and charges debited for the period: postings DBR DSC DHE DWR DGA DCI DCC DRR with a business "
                   "date in the period (debit reversals subtract); opening balances are arrears brought forward, "
                   "not debit",
    "collected_pence": "rent and charges collected in the period from every source: identified receipts (RDD RSO RBP "
                       "RCP RPY RCO RHB RUC) by business date, plus unidentified receipts on the day they entered "
                       "suspense (not again when later allocated by hand), less Direct Debit unpaids (RDN) and "
                       "returned cheques (RRC) in the period",
    "collected_by_channel": "collected_pence split by payment channel (DD unpaids subtract from direct_debit)",
    "arrears_brought_forward_pence": "sum of positive account balances at the start of the period (end of the day "
                                     "before period_start), every account; credit balances are not netted",
    "rent_collected_pct_excl_arrears_bf": "collected_pence / debit_pence × 100",
    "rent_collected_pct_incl_arrears_bf": "collected_pence / (debit_pence + arrears_brought_forward_pence) × 100",
    "current_tenant_arrears_pence": "sum of positive balances at the end of `through` of current tenancies (started "
                                    "on or before it and not ended on or before it); credits not netted",
    "current_tenant_arrears_pct": "current_tenant_arrears_pence / annual_rent_debit_pence × 100",
    "former_tenant_arrears_pence": "sum of positive balances at the end of `through` of tenancies that ended on or "
                                   "before it",
    "former_tenant_arrears_pct": "former_tenant_arrears_pence / annual_rent_debit_pence × 100",
    "annual_rent_debit_pence": "sum over current tenancies of (weekly rent + weekly charges) × 52, at today's rents",
    "written_off_pence": "approved write-offs (WOF) with a business date in the period; the ledger's adjustments (WON, debit or credit) are not write-offs and are not counted",
    "written_off_pct": "written_off_pence / annual_rent_debit_pence × 100",
    "current_tenancies": "tenancies current at the end of `through`",
    "current_tenancies_in_arrears": "current tenancies whose balance at the end of `through` is above zero",
    "dd_take_up_pct": "current tenancies whose payment method is Direct Debit / current tenancies × 100 "
                      "(payment method as it now stands)",
    "dd_collections_presented": "Direct Debit collections received in the period (RDD postings and DD receipts "
                                "opened in suspense), count",
    "dd_collections_presented_pence": "the same, in pence",
    "dd_failures": "Direct Debit unpaids (RDN, from ARUDD) posted in the period, count",
    "dd_failures_pence": "the same, in pence",
    "dd_failure_rate_pct": "dd_failures / dd_collections_presented × 100 (by count)",
    "dd_failure_value_rate_pct": "dd_failures_pence / dd_collections_presented_pence × 100 (by value)",
    "suspense_count": "unallocated receipts at the end of `through` (received on or before it, not allocated by then)",
    "suspense_pence": "their total in pence",
    "suspense_age_bands": "the same by age in days since received: 0–7, 8–30, 31–90, over 90; count and pence",
    "suspense_opened_count": "receipts that went to suspense during the period",
    "suspense_allocated_count": "suspense items allocated by hand during the period",
    "tenants_over_7_weeks_arrears": "current tenancies whose balance at the end of `through` exceeds 7 × (weekly "
                                    "rent + weekly charges)",
    "tenants_over_7_weeks_arrears_pct": "tenants_over_7_weeks_arrears / current_tenancies × 100",
    "refunds_pence": "tenant and Bacs refunds (REF, RDR) in the period; not deducted from collections",
    "percentages": "numbers with two decimals, rounded half up; null when the denominator is 0",
}


def compute_kpis(selection: Selection, totals: PeriodTotals, position: Position, *,
                 as_of: dt.date) -> dict[str, Any]:
    """The snapshot body: every KPI of docs/contract.md that the ledger's events allow, plus supporting figures."""
    p = selection.period
    collected = totals.collected_pence
    annual = position.annual_rent_debit_pence
    return {
        "period": p.kind,
        "period_label": p.label,
        "period_start": p.start,
        "period_end": p.end,
        "through": selection.through,
        "as_of": as_of,
        "complete": selection.complete,
        "debit_pence": totals.debit_pence,
        "debit_by_type": dict(totals.debit_by_type),
        "collected_pence": collected,
        "collected_by_channel": dict(totals.collected_by_channel),
        "arrears_brought_forward_pence": position.arrears_brought_forward_pence,
        "rent_collected_pct_excl_arrears_bf": pct(collected, totals.debit_pence),
        "rent_collected_pct_incl_arrears_bf": pct(collected, totals.debit_pence
                                                  + position.arrears_brought_forward_pence),
        "current_tenant_arrears_pence": position.current_tenant_arrears_pence,
        "current_tenant_arrears_pct": pct(position.current_tenant_arrears_pence, annual),
        "former_tenant_arrears_pence": position.former_tenant_arrears_pence,
        "former_tenant_arrears_pct": pct(position.former_tenant_arrears_pence, annual),
        "annual_rent_debit_pence": annual,
        "written_off_pence": totals.written_off_pence,
        "written_off_pct": pct(totals.written_off_pence, annual),
        "current_tenancies": position.current_tenancies,
        "current_tenancies_in_arrears": position.current_tenancies_in_arrears,
        "dd_take_up_pct": pct(position.dd_tenancies, position.current_tenancies),
        "dd_collections_presented": totals.dd_presented_count,
        "dd_collections_presented_pence": totals.dd_presented_pence,
        "dd_failures": totals.dd_unpaid_count,
        "dd_failures_pence": totals.dd_unpaid_pence,
        "dd_failure_rate_pct": pct(totals.dd_unpaid_count, totals.dd_presented_count),
        "dd_failure_value_rate_pct": pct(totals.dd_unpaid_pence, totals.dd_presented_pence),
        "suspense_count": position.suspense_count,
        "suspense_pence": position.suspense_pence,
        "suspense_age_bands": {k: dict(v) for k, v in position.suspense_age_bands.items()},
        "suspense_opened_count": totals.suspense_opened_count,
        "suspense_allocated_count": totals.suspense_allocated_count,
        "tenants_over_7_weeks_arrears": position.tenants_over_7_weeks_arrears,
        "tenants_over_7_weeks_arrears_pct": pct(position.tenants_over_7_weeks_arrears, position.current_tenancies),
        "refunds_pence": totals.refunds_pence,
        "definitions": dict(DEFINITIONS),
    }
