"""Reporting's settings (rentflow_common.settings for what every service reads)."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from rentflow_common.settings import Settings


class ReportingSettings(Settings):
    """reporting"""

    kpi_snapshot_interval_s: float = Field(
        5.0, gt=0, le=86_400, validation_alias="RENTFLOW_KPI_SNAPSHOT_INTERVAL_S",
        description="at most this often, the month-to-date KPI snapshot is taken after ledger events arrive")
    landlord_name: str = Field("Rent Accounts Team", min_length=1, max_length=200, validation_alias="RENTFLOW_LANDLORD_NAME",
                               description="the landlord's name on rent statements and letters")
    statements_dir: Path | None = Field(
        None, validation_alias="RENTFLOW_STATEMENTS_DIR",
        description="folder the service writes statement runs into, one sub-folder per run (downloaded through "
                    "GET /v1/statements/runs/{run_id}/archive); default $RENTFLOW_HOME/statements")

    @property
    def statements_folder(self) -> Path:
        return (self.statements_dir or self.home / "statements").resolve()
