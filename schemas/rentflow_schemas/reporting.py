"""reporting.* events, emitted by services/reporting."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import Pence


class KpiSnapshot(BaseModel):
    """reporting.kpi-snapshots.v1: KPIs for one period (docs/domain.md §5)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    period: Literal["week", "month", "quarter", "year"]
    period_start: dt.date
    period_end: dt.date
    taken_at: AwareDatetime
    debit_pence: Pence
    collected_pence: Pence
    rent_collected_pct_excl_arrears_bf: Decimal | None = Field(default=None, decimal_places=2)
    suspense_count: int
    suspense_pence: Pence
    collected_by_channel: dict[str, Pence]
    # Added with services/reporting (optional, so older snapshots still validate). Definitions as
    # docs/domain.md §5; every snapshot also carries its `definitions`. Percentages: two decimals, null
    # when the denominator is 0.
    through: dt.date | None = Field(default=None, description="last business date in the figures")
    complete: bool | None = Field(default=None, description="false for the current period to date")
    arrears_brought_forward_pence: Pence | None = None
    rent_collected_pct_incl_arrears_bf: Decimal | None = Field(default=None, decimal_places=2)
    current_tenant_arrears_pence: Pence | None = None
    current_tenant_arrears_pct: Decimal | None = Field(default=None, decimal_places=2)
    former_tenant_arrears_pence: Pence | None = None
    former_tenant_arrears_pct: Decimal | None = Field(default=None, decimal_places=2)
    annual_rent_debit_pence: Pence | None = None
    written_off_pence: Pence | None = None
    written_off_pct: Decimal | None = Field(default=None, decimal_places=2)
    current_tenancies: int | None = None
    dd_take_up_pct: Decimal | None = Field(default=None, decimal_places=2)
    dd_collections_presented: int | None = None
    dd_failures: int | None = None
    dd_failures_pence: Pence | None = None
    dd_failure_rate_pct: Decimal | None = Field(default=None, decimal_places=2)
    suspense_age_bands: dict[str, dict[str, int]] | None = Field(
        default=None, description="band → {count, pence}: 0_7_days, 8_30_days, 31_90_days, over_90_days")
    tenants_over_7_weeks_arrears: int | None = None
    tenants_over_7_weeks_arrears_pct: Decimal | None = Field(default=None, decimal_places=2)
    definitions: dict[str, str] | None = Field(default=None, description="KPI key → how it is computed")
