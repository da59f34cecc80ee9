"""The ledger's settings (rentflow_common.settings for what every service reads)."""
from __future__ import annotations

from pydantic import Field, field_validator

from rentflow_common.settings import Settings
from rentflow_ledger.domain.codes import DEFAULT_GL_CODES, parse_gl_codes
from rentflow_ledger.domain.references import CheckScheme
from rentflow_ledger.domain.rent_weeks import parse_rent_free


class LedgerSettings(Settings):
    """ledger"""

    ref_check: str = Field("none", validation_alias="RENTFLOW_REF_CHECK",
                           description="check digit of rent references: none, mod10:w,w,… or mod11:w,w,…")
    gl_codes: str = Field("", validation_alias="RENTFLOW_GL_CODES",
                          description="the landlord's chart of accounts: side=CODE,… (e.g. bank=1000,debtors_control=1100)")
    rent_free_weeks: str = Field("", validation_alias="RENTFLOW_RENT_FREE_WEEKS",
                                 description="rent-free weeks per rent year, e.g. 2026:1,38,39,52;2027:… (the table "
                                             "set by POST /v1/rent-free-weeks wins for a year it names)")
    rent_notice_days: int = Field(28, ge=1, le=366, validation_alias="RENTFLOW_RENT_NOTICE_DAYS",
                                  description="days of notice a rent change needs (Housing Act 1985 s.103: four weeks)")
    notice_service_days: int = Field(7, ge=0, le=60, validation_alias="RENTFLOW_NOTICE_SERVICE_DAYS",
                                     description="days allowed to serve the notices before the notice period starts")
    consumers: int = Field(1, ge=1, le=32, validation_alias="RENTFLOW_LEDGER_CONSUMERS",
                           description="members of the ledger consumer group in one process")

    @field_validator("ref_check")
    @classmethod
    def _scheme(cls, value: str) -> str:
        CheckScheme.parse(value)
        return value

    @field_validator("gl_codes")
    @classmethod
    def _codes(cls, value: str) -> str:
        parse_gl_codes(value, DEFAULT_GL_CODES)
        return value

    @field_validator("rent_free_weeks")
    @classmethod
    def _free(cls, value: str) -> str:
        parse_rent_free(value)
        return value

    @property
    def check_scheme(self) -> CheckScheme | None:
        return CheckScheme.parse(self.ref_check)

    @property
    def rent_free(self) -> dict[int, set[int]]:
        return parse_rent_free(self.rent_free_weeks)
