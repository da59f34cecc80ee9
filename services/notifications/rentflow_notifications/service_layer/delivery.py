"""Email delivery of produced notices, at least once, never twice on redelivery.

A notice's email delivery row is made once, when the notice is rendered (unique per notice and
channel: redelivered input finds the notice and makes nothing). Sending:
1. claim the next due one in a short transaction: status `sending`, attempts + 1, a lease (next_attempt_at)
   that outlasts one send (config.email_lease);
2. send over SMTP (no transaction open);
3. record the outcome in a second transaction: `sent` (NoticeEvent delivered), `pending` again
   with a backoff after a temporary failure, or `failed` (NoticeEvent failed) after a permanent one
   or the last attempt.
The window: a crash after the SMTP server accepted the message and before step 3 commits leaves
the row `sending`; when its lease runs out it is sent again, with the same Message-ID (derived
from the notice), so the payer may get it twice. SMTP offers no way to close that window; it is
the time of one commit, and every resend after a lease is logged (`email.resend`). A claim records the
process that made it (reaper.process_key): a process of the same machine that finds the claimer gone (killed,
crashed; `rentflow up` restarts it) makes the email due at once instead of after the lease
(`release_orphaned_emails`); a claim of another machine's process waits out its lease."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger
from rentflow_common.reaper import process_gone, process_key

from rentflow_notifications.adapters import notices_repo as nrepo
from rentflow_notifications.adapters import smtp
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.domain.letters import RENT_REVIEW
from rentflow_notifications.service_layer.events import emit_notice

log = get_logger(__name__)

SUBJECTS = {RENT_REVIEW: "Notice of variation of rent", "dd_failure": "Your Direct Debit payment was returned unpaid"}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))


def _message(d: dict[str, Any], config: NotificationsConfig) -> Any:
    subject = SUBJECTS.get(d["kind"], "A letter about your rent account")
    plain = (f"{subject} (rent account {d['account_ref']}). The letter is attached as a PDF and shown below; "
             f"it is also sent by post.\n\n{config.landlord.name}")
    return smtp.build_message(notice_id=d["notice_id"], sender=config.smtp.sender, to=d["address"],  # type: ignore[union-attr]
                              subject=subject, html_path=d["html_document"], pdf_path=d["document"], plain=plain)


async def send_due_emails(new_uow: Callable[[], UnitOfWork], config: NotificationsConfig, limit: int = 1) -> int:
    """Sends the email deliveries that are due, `limit` claimed at a time; returns how many it tried.
    One at a time (the worker calls again while there are more): each is claimed just before it is sent,
    so its lease covers its own send only. Claimed in twenties, the last of a batch waited under its lease
    while the others were sent, and a slow server could outlast it: another instance would then claim
    and send it too."""
    if config.smtp is None:
        return 0
    async with new_uow() as uow:
        claimed = await nrepo.claim_emails(uow.raw, config.clock(), config.email_lease, limit, process_key())
        await uow.commit()
    for d in claimed:
        if d["attempts"] > 1:
            log.warning("email.resend", notice_id=str(d["notice_id"]), attempt=d["attempts"])
        try:
            result = await smtp.send(config.smtp, _message(d, config))
        except OSError as exc:  # the letter's files are missing: nothing to send
            result = smtp.SendResult(False, True, f"cannot read the letter: {exc}")
        now = config.clock()
        async with new_uow() as uow:
            raw = uow.raw
            if result.ok:
                await nrepo.finish_delivery(raw, d["delivery_id"], status="sent", now=now, detail=result.detail,
                                            message_id=smtp.message_id(d["notice_id"], config.smtp.sender))
                emit_notice(uow, d, "delivered", at=now, channel="email")
                log.info("email.sent", notice_id=str(d["notice_id"]), kind=d["kind"], attempt=d["attempts"])
            elif result.permanent or d["attempts"] >= config.email_attempts:
                await nrepo.finish_delivery(raw, d["delivery_id"], status="failed", now=now, detail=result.detail)
                emit_notice(uow, d, "failed", at=now, channel="email", reason=result.detail)
                log.error("email.failed", notice_id=str(d["notice_id"]), attempt=d["attempts"], detail=result.detail)
            else:
                await nrepo.finish_delivery(raw, d["delivery_id"], status="pending", now=now, detail=result.detail,
                                            next_attempt_at=now + backoff(d["attempts"]))
                log.warning("email.retry", notice_id=str(d["notice_id"]), attempt=d["attempts"], detail=result.detail)
            await uow.commit()
    return len(claimed)


async def release_orphaned_emails(new_uow: Callable[[], UnitOfWork], config: NotificationsConfig) -> int:
    """Makes due now the emails whose claiming process is gone (a process of this machine, by its pid and
    start time): their lease would have held them for minutes. Returns how many."""
    if config.smtp is None:
        return 0
    async with new_uow() as uow:
        now = config.clock()
        held = await nrepo.held_emails(uow.raw, now)
        orphaned = [(d, n, by) for d, n, by in held if process_gone(by)]
        released = await nrepo.end_leases(uow.raw, [(d, by) for d, _n, by in orphaned], now)
        await uow.commit()
    if orphaned:
        log.warning("email.claim_released", notices=[str(n) for _d, n, _by in orphaned], released=released,
                    reason="the process that claimed them is gone: sent again now, not after the lease")
    return released
