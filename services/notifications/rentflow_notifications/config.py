"""Notifications' configuration: the notice rules, the landlord, SMTP and rendering, built from
NotificationsSettings (settings.py) at start."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rentflow_common.settings import SettingsError

from rentflow_notifications.domain.letters import Landlord
from rentflow_notifications.domain.notice_dates import NoticeRules
from rentflow_notifications.domain.tasks import london_date
from rentflow_notifications.settings import NotificationsSettings


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "rents@localhost"
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 30.0


SMTP_STEPS = 10  # the commands of one send, each up to the SMTP timeout: connect, EHLO, STARTTLS, EHLO, AUTH,
# MAIL, RCPT, DATA, the message, QUIT


def email_lease(smtp_timeout: float) -> dt.timedelta:
    """How long a claimed email is its sender's: 5 minutes, or longer where one send may take longer (every
    step of it at the SMTP timeout). A send outlasting its lease could be claimed and sent again."""
    return max(dt.timedelta(minutes=5), dt.timedelta(seconds=SMTP_STEPS * smtp_timeout))


@dataclass(frozen=True)
class NotificationsConfig:
    letters_dir: Path
    rules: NoticeRules = field(default_factory=NoticeRules)
    landlord: Landlord = field(default_factory=Landlord)
    smtp: SmtpSettings | None = None
    font_path: str | None = None
    render_workers: int = 1
    render_chunk: int = 200
    email_attempts: int = 5
    email_lease: dt.timedelta = dt.timedelta(minutes=5)
    idle_poll_seconds: float = 5.0  # woken at once by this service's commits; this catches emails due later
    clock: Callable[[], dt.datetime] = utc_now

    @classmethod
    def from_settings(cls, settings: NotificationsSettings) -> "NotificationsConfig":
        try:
            rules = NoticeRules(
                tenancy=settings.tenancy_type, rental_period=settings.rental_period,
                assured_notice_months=settings.assured_notice_months,
                service_working_days=settings.service_working_days,
                dd_advance_working_days=settings.dd_notice_working_days,
                represent_notice_working_days=settings.represent_notice_working_days)
        except ValueError as exc:
            raise SettingsError(f"notice rules (RENTFLOW_TENANCY_TYPE, RENTFLOW_RENTAL_PERIOD, ...): {exc}") from None
        landlord = Landlord(
            name=settings.landlord_name,
            address=tuple(p.strip() for p in settings.landlord_address.split(";") if p.strip()),
            phone=settings.landlord_phone, email=settings.landlord_email)
        smtp = None
        if settings.smtp_host:
            smtp = SmtpSettings(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from or
                                "rents@localhost", username=settings.smtp_username or None,
                                password=settings.smtp_password or None, starttls=settings.smtp_starttls,
                                timeout=settings.smtp_timeout)
        font = str(settings.letter_font) if settings.letter_font else None
        if font and not Path(font).is_file():
            raise SettingsError(f"RENTFLOW_LETTER_FONT: no such font file {font}")
        return cls(letters_dir=(settings.letters_dir or settings.home / "letters").resolve(), rules=rules,
                   landlord=landlord, smtp=smtp, font_path=font, render_workers=settings.render_workers,
                   render_chunk=settings.render_chunk, email_lease=email_lease(settings.smtp_timeout))

    def today(self) -> dt.date:
        return london_date(self.clock())
