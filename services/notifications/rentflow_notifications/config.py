"""Notifications' own configuration, by environment (read once, at build_app).

| variable | default | meaning |
| --- | --- | --- |
| RENTFLOW_LETTERS_DIR | $RENTFLOW_HOME/letters | where letters and print files are written |
| RENTFLOW_TENANCY_TYPE | secure | secure (Housing Act 1985 s.103) or assured (1988 s.13) |
| RENTFLOW_RENTAL_PERIOD | week | week, fortnight, four_weeks or month |
| RENTFLOW_ASSURED_NOTICE_MONTHS | 1 | assured tenancies: months of notice of a rent change |
| RENTFLOW_SERVICE_WORKING_DAYS | 2 | working days from posting to deemed service (first class post) |
| RENTFLOW_DD_NOTICE_WORKING_DAYS | 10 | Direct Debit advance notice |
| RENTFLOW_REPRESENT_NOTICE_WORKING_DAYS | 5 | notice before a DD re-presentation |
| RENTFLOW_LANDLORD_NAME, _ADDRESS (lines split by ';'), _PHONE, _EMAIL | | the letter's sender |
| RENTFLOW_LETTER_FONT | | a TrueType font file for PDFs (else Helvetica, Windows-1252 only) |
| RENTFLOW_RENDER_WORKERS | 1 | worker processes rendering PDFs (0: a thread of the service) |
| RENTFLOW_RENDER_CHUNK | 200 | notices per rendering transaction |
| RENTFLOW_SMTP_HOST, _PORT (25), _FROM, _USERNAME, _PASSWORD, _STARTTLS (false), _TIMEOUT (30) | | email; unset host: no email |
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rentflow_notifications.domain.letters import Landlord
from rentflow_notifications.domain.notice_dates import NoticeRules
from rentflow_notifications.domain.tasks import london_date


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
    idle_poll_seconds: float = 0.5
    clock: Callable[[], dt.datetime] = utc_now

    @classmethod
    def from_env(cls, home: Path) -> "NotificationsConfig":
        env = os.environ
        try:
            rules = NoticeRules(
                tenancy=env.get("RENTFLOW_TENANCY_TYPE", "secure"),  # type: ignore[arg-type]
                rental_period=env.get("RENTFLOW_RENTAL_PERIOD", "week"),  # type: ignore[arg-type]
                assured_notice_months=_int("RENTFLOW_ASSURED_NOTICE_MONTHS", 1),
                service_working_days=_int("RENTFLOW_SERVICE_WORKING_DAYS", 2),
                dd_advance_working_days=_int("RENTFLOW_DD_NOTICE_WORKING_DAYS", 10),
                represent_notice_working_days=_int("RENTFLOW_REPRESENT_NOTICE_WORKING_DAYS", 5))
        except ValueError as exc:  # e.g. RENTFLOW_TENANCY_TYPE=council
            raise RuntimeError(f"notice rules (RENTFLOW_TENANCY_TYPE, RENTFLOW_RENTAL_PERIOD, ...): {exc}") from None
        landlord = Landlord(
            name=env.get("RENTFLOW_LANDLORD_NAME", "Rent Accounts Team"),
            address=tuple(p.strip() for p in env.get("RENTFLOW_LANDLORD_ADDRESS", "").split(";") if p.strip()),
            phone=env.get("RENTFLOW_LANDLORD_PHONE", ""), email=env.get("RENTFLOW_LANDLORD_EMAIL", ""))
        smtp = None
        if env.get("RENTFLOW_SMTP_HOST"):
            smtp = SmtpSettings(host=env["RENTFLOW_SMTP_HOST"], port=_int("RENTFLOW_SMTP_PORT", 25),
                                sender=env.get("RENTFLOW_SMTP_FROM") or "rents@localhost",
                                username=env.get("RENTFLOW_SMTP_USERNAME") or None,
                                password=env.get("RENTFLOW_SMTP_PASSWORD") or None,
                                starttls=env.get("RENTFLOW_SMTP_STARTTLS", "false").lower() in ("1", "true", "yes"),
                                timeout=float(env.get("RENTFLOW_SMTP_TIMEOUT", "30")))
        font = env.get("RENTFLOW_LETTER_FONT") or None
        if font and not Path(font).is_file():
            raise RuntimeError(f"RENTFLOW_LETTER_FONT: no such font file {font}")
        return cls(letters_dir=Path(env.get("RENTFLOW_LETTERS_DIR") or home / "letters").resolve(), rules=rules,
                   landlord=landlord, smtp=smtp, font_path=font, render_workers=_int("RENTFLOW_RENDER_WORKERS", 1),
                   render_chunk=max(1, _int("RENTFLOW_RENDER_CHUNK", 200)))

    def today(self) -> dt.date:
        return london_date(self.clock())


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, not {value!r}") from None
