"""The mailer's pass (Workers._mail): emails a gone process claimed are released when the mailer starts
and whenever a pass found nothing due, not between the sends of a busy run."""
from __future__ import annotations

from typing import Any

from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.entrypoints import workers


async def test_claims_of_gone_processes_are_released_at_start_and_when_idle(monkeypatch, tmp_path):
    calls: list[str] = []
    due = [1, 1, 0, 0, 1, 0]  # what each pass sends: a run of two, idle twice, one more, idle

    async def release(_new_uow: Any, _config: Any) -> int:
        calls.append("release")
        return 0

    async def send(_new_uow: Any, _config: Any) -> int:
        calls.append("send")
        return due.pop(0)

    monkeypatch.setattr(workers, "release_orphaned_emails", release)
    monkeypatch.setattr(workers, "send_due_emails", send)
    mailer = workers.Workers(NotificationsConfig(letters_dir=tmp_path))
    for _ in range(6):
        await mailer._mail(lambda: None)
    assert calls == ["release", "send",  # the start
                     "send", "send",  # a busy run: no look between its sends
                     "release", "send",  # after a pass that found nothing
                     "release", "send",  # again
                     "send"]  # busy once more
    assert mailer.emails_tried == 3
