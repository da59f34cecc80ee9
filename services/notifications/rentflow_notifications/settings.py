"""Notifications' settings (rentflow_common.settings for what every service reads)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from rentflow_common.settings import Settings


class NotificationsSettings(Settings):
    """notifications"""

    letters_dir: Path | None = Field(None, validation_alias="RENTFLOW_LETTERS_DIR",
                                     description="where letters and print files are written (default $RENTFLOW_HOME/letters)")
    tenancy_type: Literal["secure", "assured"] = Field(
        "secure", validation_alias="RENTFLOW_TENANCY_TYPE",
        description="secure (Housing Act 1985 s.103) or assured (1988 s.13): the notice rules of a rent change")
    rental_period: Literal["week", "fortnight", "four_weeks", "month"] = Field(
        "week", validation_alias="RENTFLOW_RENTAL_PERIOD", description="the tenancies' rental period")
    assured_notice_months: int = Field(1, ge=1, le=12, validation_alias="RENTFLOW_ASSURED_NOTICE_MONTHS",
                                       description="assured tenancies: months of notice of a rent change")
    service_working_days: int = Field(2, ge=0, le=30, validation_alias="RENTFLOW_SERVICE_WORKING_DAYS",
                                      description="working days from posting to deemed service (first class post)")
    dd_notice_working_days: int = Field(10, ge=0, le=60, validation_alias="RENTFLOW_DD_NOTICE_WORKING_DAYS",
                                        description="Direct Debit advance notice, in working days")
    represent_notice_working_days: int = Field(
        5, ge=0, le=30, validation_alias="RENTFLOW_REPRESENT_NOTICE_WORKING_DAYS",
        description="notice to the payer before a DD re-presentation, in working days")
    landlord_name: str = Field("Rent Accounts Team", max_length=200, validation_alias="RENTFLOW_LANDLORD_NAME",
                               description="the landlord's name on letters")
    landlord_address: str = Field("", max_length=1000, validation_alias="RENTFLOW_LANDLORD_ADDRESS",
                                  description="the landlord's address on letters, lines split by ';'")
    landlord_phone: str = Field("", max_length=100, validation_alias="RENTFLOW_LANDLORD_PHONE",
                                description="the landlord's phone number on letters")
    landlord_email: str = Field("", max_length=320, validation_alias="RENTFLOW_LANDLORD_EMAIL",
                                description="the landlord's email address on letters")
    letter_font: Path | None = Field(None, validation_alias="RENTFLOW_LETTER_FONT",
                                     description="a TrueType font file for PDFs (else Helvetica, Windows-1252 only)")
    render_workers: int = Field(1, ge=0, le=64, validation_alias="RENTFLOW_RENDER_WORKERS",
                                description="worker processes rendering PDFs (0: a thread of the service)")
    render_chunk: int = Field(200, ge=1, le=100_000, validation_alias="RENTFLOW_RENDER_CHUNK",
                              description="notices per rendering transaction")
    smtp_host: str | None = Field(None, validation_alias="RENTFLOW_SMTP_HOST",
                                  description="SMTP server for emailed letters; unset: letters only")
    smtp_port: int = Field(25, ge=1, le=65535, validation_alias="RENTFLOW_SMTP_PORT", description="SMTP port")
    smtp_from: str = Field("rents@localhost", validation_alias="RENTFLOW_SMTP_FROM",
                           description="sender address of emailed letters")
    smtp_username: str | None = Field(None, validation_alias="RENTFLOW_SMTP_USERNAME", description="SMTP user")
    smtp_password: str | None = Field(None, validation_alias="RENTFLOW_SMTP_PASSWORD", description="SMTP password")
    smtp_starttls: bool = Field(False, validation_alias="RENTFLOW_SMTP_STARTTLS", description="STARTTLS to the server")
    smtp_timeout: float = Field(30.0, gt=0, le=600, validation_alias="RENTFLOW_SMTP_TIMEOUT",
                                description="seconds to wait for the SMTP server at each step of a send; an email "
                                            "claimed for sending is its sender's for ten of these (5 minutes at least)")
