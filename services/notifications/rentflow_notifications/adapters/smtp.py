"""Email over SMTP (aiosmtplib): the letter as the HTML body, its PDF attached. The Message-ID is
derived from the notice, so if a message must be sent again (see service_layer/delivery.py) the
recipient's mail system sees the same message."""
from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiosmtplib

from rentflow_notifications.config import SmtpSettings


@dataclass(frozen=True)
class SendResult:
    ok: bool
    permanent: bool  # a failure that will not go away by trying again (5xx, e.g. unknown mailbox)
    detail: str


def message_id(notice_id: object, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] or "rentflow"
    return f"<notice-{notice_id}@{domain}>"


def build_message(*, notice_id: object, sender: str, to: str, subject: str, html_path: str, pdf_path: str,
                  plain: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(notice_id, sender)
    msg.set_content(plain)
    msg.add_alternative(Path(html_path).read_text(encoding="utf-8"), subtype="html")
    msg.add_attachment(Path(pdf_path).read_bytes(), maintype="application", subtype="pdf",
                       filename=Path(pdf_path).name)
    return msg


async def send(settings: SmtpSettings, msg: EmailMessage) -> SendResult:
    try:
        _, response = await aiosmtplib.send(msg, hostname=settings.host, port=settings.port,
                                            username=settings.username, password=settings.password,
                                            start_tls=settings.starttls, timeout=settings.timeout)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [e.code for e in exc.recipients]
        return SendResult(False, all(c >= 500 for c in codes), f"recipient refused: {exc}")
    except aiosmtplib.SMTPResponseException as exc:
        return SendResult(False, exc.code >= 500, f"SMTP {exc.code}: {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:  # connection refused, timeouts, disconnects
        return SendResult(False, False, f"{type(exc).__name__}: {exc}")
    return SendResult(True, False, response)
