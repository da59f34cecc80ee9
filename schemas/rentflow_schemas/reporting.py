"""reporting.* events, emitted by services/reporting."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rentflow_schemas.common import Pence


class KpiSnapshot(BaseModel):
    """reporting.kpi-snapshots.v1: KPIs for one period (DOMAIN.md §5)."""

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
