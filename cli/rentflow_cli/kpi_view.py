"""The KPI snapshot as a housing finance reader reads it: named figures in £, counts with
thousands separators, percentages with a % sign, breakdowns indented under their totals.
Figures a newer reporting service adds, and this list does not know, are shown at the end
under their own key, so nothing in the snapshot is hidden."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable

from rentflow_cli.output import pounds, when
from rentflow_schemas.codes import CODES, Kind

# docs/domain.md §2: debit codes and what they charge (the shared table)
CHARGES = {c.code: c.description for c in CODES.values() if c.kind in (Kind.DEBIT, Kind.ADJUSTMENT)}
CHANNELS = {"direct_debit": "Direct Debit", "standing_order": "standing order", "bank_transfer": "bank transfer",
            "card": "card", "cash": "cash (PayPoint, Post Office)", "housing_benefit": "Housing Benefit",
            "universal_credit": "Universal Credit"}
AGE_BANDS = {"0_7_days": "0–7 days old", "8_30_days": "8–30 days old", "31_90_days": "31–90 days old",
             "over_90_days": "over 90 days old"}
ABOUT = ("period", "period_label", "period_start", "period_end", "through", "as_of", "complete", "taken_at",
         "snapshot_id", "definitions")


def title(snap: dict[str, Any]) -> str:
    state = "complete" if snap.get("complete") else f"to date, through {snap.get('through')}"
    return (f"KPI {snap.get('period')} {snap.get('period_label', '')}: {snap.get('period_start')} to "
            f"{snap.get('period_end')} ({state})")


def footnote(snap: dict[str, Any]) -> str:
    return (f"snapshot {snap.get('snapshot_id')} taken {when(snap.get('taken_at'))}; the definition of each "
            f"figure: rentflow kpi --format csv")


def share(part: Any, whole: Any) -> str:
    """part / whole as a percentage with two decimals (display only; not money)."""
    if not isinstance(part, int) or not isinstance(whole, int) or not whole:
        return "-"
    return f"{(Decimal(part) * 100 / whole).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


def lines(snap: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows, sub-figures indented."""
    used: set[str] = set(ABOUT)
    rows: list[tuple[str, str]] = []

    def get(key: str) -> Any:
        used.add(key)
        return snap.get(key)

    def money(key: str) -> str:
        value = get(key)
        return pounds(value) if isinstance(value, int) else "-"

    def pct(key: str) -> str:
        value = get(key)
        return "-" if value is None else f"{Decimal(str(value)):.2f}%"

    def count(key: str) -> str:
        value = get(key)
        return "-" if value is None else f"{value:,}"

    add: Callable[[str, str], None] = lambda label, value: rows.append((label, value))
    add("Rent and charges debited", money("debit_pence"))
    for code, pence in (get("debit_by_type") or {}).items():
        add(f"  {CHARGES.get(code, code)} ({code})", pounds(pence))
    add("Collected, every source (net of unpaid DDs)", money("collected_pence"))
    for channel, pence in (get("collected_by_channel") or {}).items():
        add(f"  {CHANNELS.get(channel, channel)}", pounds(pence))
    add("Rent collected, excluding arrears b/f", pct("rent_collected_pct_excl_arrears_bf"))
    add("Arrears brought forward", money("arrears_brought_forward_pence"))
    add("Rent collected, including arrears b/f", pct("rent_collected_pct_incl_arrears_bf"))
    add("Current tenant arrears", money("current_tenant_arrears_pence"))
    add("  as % of the annual rent debit", pct("current_tenant_arrears_pct"))
    add("Former tenant arrears", money("former_tenant_arrears_pence"))
    add("  as % of the annual rent debit", pct("former_tenant_arrears_pct"))
    add("Written off", money("written_off_pence"))
    add("  as % of the annual rent debit", pct("written_off_pct"))
    add("Refunds (not deducted from collected)", money("refunds_pence"))
    add("Annual rent debit (current tenancies)", money("annual_rent_debit_pence"))
    add("Current tenancies", count("current_tenancies"))
    add("  in arrears", f"{count('current_tenancies_in_arrears')} "
                        f"({share(snap.get('current_tenancies_in_arrears'), snap.get('current_tenancies'))})")
    add("  owing more than 7 weeks' rent", f"{count('tenants_over_7_weeks_arrears')} "
                                           f"({pct('tenants_over_7_weeks_arrears_pct')})")
    add("  paying by Direct Debit", pct("dd_take_up_pct"))
    add("Direct Debit collections presented", f"{count('dd_collections_presented')} "
                                               f"({money('dd_collections_presented_pence')})")
    add("  returned unpaid", f"{count('dd_failures')} ({money('dd_failures_pence')})")
    add("  failure rate: by count, by value", f"{pct('dd_failure_rate_pct')}, {pct('dd_failure_value_rate_pct')}")
    add("Suspense: receipts not yet allocated", f"{count('suspense_count')} ({money('suspense_pence')})")
    for band, figures in (get("suspense_age_bands") or {}).items():
        add(f"  {AGE_BANDS.get(band, band)}", f"{figures.get('count', 0):,} ({pounds(figures.get('pence'))})")
    add("  sent to suspense in the period", count("suspense_opened_count"))
    add("  allocated by hand in the period", count("suspense_allocated_count"))
    for key, value in snap.items():  # figures added to the snapshot since this list was written
        if key not in used:
            add(key, _plain(key, value))
    return rows


def _plain(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(key, v)}" for k, v in value.items())
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("pence"):
        return pounds(value)
    if isinstance(value, Decimal) and key.endswith("_pct"):
        return f"{value:.2f}%"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
