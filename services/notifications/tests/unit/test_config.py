import datetime as dt

from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.settings import NotificationsSettings


def config(monkeypatch, tmp_path, **env: str) -> NotificationsConfig:
    for name, value in {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "DATABASE_URL": "postgresql://x@127.0.0.1/x",
                        "RENTFLOW_HOME": str(tmp_path), "RENTFLOW_SMTP_HOST": "mail.example", **env}.items():
        monkeypatch.setenv(name, value)
    return NotificationsConfig.from_settings(NotificationsSettings())


def test_an_email_lease_outlasts_one_send_at_the_smtp_timeout(monkeypatch, tmp_path):
    assert config(monkeypatch, tmp_path).email_lease == dt.timedelta(minutes=5)  # the 30 s default: 5 minutes
    slow = config(monkeypatch, tmp_path, RENTFLOW_SMTP_TIMEOUT="60")
    assert slow.smtp.timeout == 60 and slow.email_lease == dt.timedelta(minutes=10)
