"""Intake's settings (rentflow_common.settings for what every service reads)."""
from __future__ import annotations

from pydantic import Field

from rentflow_common.settings import Settings


class PaymentsSettings(Settings):
    """payments"""

    max_file_mb: int = Field(200, ge=1, le=100_000, validation_alias="RENTFLOW_MAX_FILE_MB",
                             description="largest statement or report file taken, in MB")
