"""Intake's settings (rentflow_common.settings for what every service reads)."""
from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from rentflow_common.settings import Settings


class PaymentsSettings(Settings):
    """payments"""

    max_file_mb: int = Field(200, ge=1, le=100_000, validation_alias="RENTFLOW_MAX_FILE_MB",
                             description="largest statement or report file taken, in MB")
    secrets_key: SecretStr = Field(
        validation_alias="RENTFLOW_SECRETS_KEY",
        description="Fernet key(s) encrypting provider signing secrets at rest (urlsafe base64 of 32 bytes; "
                    "several comma-separated while the key is changed: the first encrypts, every one decrypts). "
                    "`rentflow up` generates one into $RENTFLOW_HOME/secrets.key when unset")
    secret_rollover_hours: float = Field(
        24.0, ge=0, le=24 * 90, validation_alias="RENTFLOW_SECRET_ROLLOVER_HOURS",
        description="after `providers rotate`, how long the previous signing secret is still accepted")
    provider_cache_seconds: float = Field(
        5.0, ge=0, le=3600, validation_alias="RENTFLOW_PROVIDER_CACHE_SECONDS",
        description="how long a replica keeps a provider's secrets in memory (a rotation or revocation made "
                    "through another replica takes effect there within this time)")
    csv_columns: str = Field(
        "", max_length=1000, validation_alias="RENTFLOW_CSV_COLUMNS",
        description="cash CSV files' column names, as name=Header,... (e.g. "
                    "transaction_id=TxnRef,paid_at=Date,amount=Value,card_number=Card); an import's `columns` wins")
    csv_card_ref: str = Field(
        "9:10", max_length=10, validation_alias="RENTFLOW_CSV_CARD_REF",
        description="where the rent reference sits in a 19-digit allpay card number, START:LENGTH (1-based)")
    statement_skip: str = Field(
        "", max_length=200, validation_alias="RENTFLOW_STATEMENT_SKIP",
        description="default `skip` pattern of bank statement imports (RE2 syntax, case-insensitive): credits "
                    "it matches are settlements taken in from their own files")

    @field_validator("secrets_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr) -> SecretStr:
        from cryptography.fernet import Fernet

        keys = [k.strip() for k in value.get_secret_value().split(",") if k.strip()]
        if not keys:
            raise ValueError("no key given")
        for k in keys:
            try:
                Fernet(k)
            except (ValueError, TypeError):
                raise ValueError("not a Fernet key (urlsafe base64 of 32 bytes; make one with "
                                 "`python -c 'from cryptography.fernet import Fernet; "
                                 "print(Fernet.generate_key().decode())'`)") from None
        return value

    @field_validator("csv_columns", "csv_card_ref")
    @classmethod
    def _cash_csv_layout(cls, value: str, info: Any) -> str:
        from rentflow_payments.domain.formats import Unreadable, cash_csv

        try:
            cash_csv.check_layout(**{info.field_name.removeprefix("csv_"): value})
        except Unreadable as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("statement_skip")
    @classmethod
    def _skip_pattern(cls, value: str) -> str:
        from rentflow_payments.domain.patterns import PatternError, compile_pattern

        try:
            compile_pattern(value)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value
