"""Settings: one object per service, validated at start with errors that name the variable, and
documented in one generated table (docs/settings.md).

Regenerate the table with: .venv/bin/python tests/test_settings.py"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rentflow_common.settings import Settings, SettingsError, settings_table
from rentflow_ledger.settings import LedgerSettings
from rentflow_notifications.settings import NotificationsSettings
from rentflow_payments.settings import PaymentsSettings
from rentflow_reporting.settings import ReportingSettings

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
CLASSES: list[type[Settings]] = [Settings, PaymentsSettings, LedgerSettings, NotificationsSettings, ReportingSettings]
BASE = {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092", "DATABASE_URL": "postgresql://localhost/rentflow"}


def document() -> str:
    return ("# Settings\n\nEvery variable rentflow reads, generated from the services' settings classes "
            "(`.venv/bin/python tests/test_settings.py` writes this file). `rentflow up` sets the first two "
            "and RENTFLOW_HOME, RENTFLOW_PORT, RENTFLOW_PARTITIONS for the services it starts. A value that "
            "is not allowed stops the service at start with a message naming the variable.\n\n"
            + settings_table(CLASSES))


def test_the_settings_table_is_current():
    assert DOC.read_text() == document(), "docs/settings.md is stale: run .venv/bin/python tests/test_settings.py"


@pytest.mark.parametrize("cls, name, value", [
    (Settings, "RENTFLOW_PARTITIONS", "six"),
    (Settings, "RENTFLOW_EVENT_LOOP", "trio"),
    (PaymentsSettings, "RENTFLOW_MAX_FILE_MB", "0"),
    (PaymentsSettings, "RENTFLOW_SECRETS_KEY", "not-a-fernet-key"),
    (PaymentsSettings, "RENTFLOW_STATEMENT_SKIP", "(a)\\1"),
    (LedgerSettings, "RENTFLOW_GL_CODES", "bnak=1"),
    (LedgerSettings, "RENTFLOW_REF_CHECK", "mod7:1,2"),
    (NotificationsSettings, "RENTFLOW_TENANCY_TYPE", "council"),
    (ReportingSettings, "RENTFLOW_KPI_SNAPSHOT_INTERVAL_S", "-1"),
])
def test_a_bad_value_is_refused_naming_its_variable(cls, name, value):
    with pytest.raises(SettingsError, match=name):
        cls.from_env({**BASE, name: value})


def test_a_missing_connection_is_named():
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "x:1"})


def test_a_bad_secrets_key_is_not_echoed():
    with pytest.raises(SettingsError) as exc:
        PaymentsSettings.from_env({**BASE, "RENTFLOW_SECRETS_KEY": "almost-a-key-but-not"})
    assert "almost-a-key" not in str(exc.value) and "not a Fernet key" in str(exc.value)
    with pytest.raises(SettingsError, match="RENTFLOW_SECRETS_KEY is not set"):
        PaymentsSettings.from_env(BASE)


def test_defaults_and_values_are_read():
    s = LedgerSettings.from_env({**BASE, "RENTFLOW_RENT_NOTICE_DAYS": "35", "RENTFLOW_PARTITIONS": "3"})
    assert (s.rent_notice_days, s.partitions, s.notice_service_days, s.outbox_retention_days) == (35, 3, 7, 7.0)


def test_groups_off_the_payments_path_poll_the_broker_far_less_than_the_ledger():
    """Each fetch costs the embedded broker 0.7-3.5 ms, with records or without: reporting and
    notifications fetch with the background wait, twelve times the ledger's."""
    s = Settings.from_env(BASE)
    assert (s.fetch_max_wait_ms, s.background_fetch_wait_ms) == (25, 300)


if __name__ == "__main__":
    DOC.write_text(document())
    print(f"wrote {DOC}")
    sys.exit(0)
