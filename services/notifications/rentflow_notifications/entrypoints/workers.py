"""Background work of the service process, beside the consumer: the renderer (pending notices to
letters, a chunk per transaction) and the mailer (due email deliveries). PDF rendering and print
merges run in a worker process (RENTFLOW_RENDER_WORKERS, default 1), so the event loop that serves
the consumer and HTTP only waits on a future; 0 runs them in a thread instead. A worker process ends
with the service, even a SIGKILLed one (render.die_with_parent)."""
from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Awaitable, Callable

from rentflow_common.db import UnitOfWork
from rentflow_common.logging import get_logger

from rentflow_notifications.adapters.render import die_with_parent
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.service_layer.delivery import release_orphaned_emails, send_due_emails
from rentflow_notifications.service_layer.notices import render_pending

log = get_logger(__name__)


def render_pool(workers: int) -> Executor:
    """`workers` spawned processes that end with this one, however it ends (render.die_with_parent);
    0: one thread."""
    if workers <= 0:
        return ThreadPoolExecutor(1, thread_name_prefix="notices-render")
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=die_with_parent, initargs=(os.getpid(),))


class Workers:
    def __init__(self, config: NotificationsConfig) -> None:
        self.config = config
        self._pool: Executor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self.rendered = 0
        self.emails_tried = 0
        self._mail_idle = True

    async def start(self, new_uow: Callable[[], UnitOfWork]) -> None:
        self._pool = self._new_pool()
        self._stopping = False
        self._tasks = [asyncio.create_task(self._loop("renderer", lambda: self._render(new_uow)), name="notices-render"),
                       asyncio.create_task(self._loop("mailer", lambda: self._mail(new_uow)), name="notices-mail")]
        if self.config.smtp is None:
            log.info("notices.email_off", note="RENTFLOW_SMTP_HOST not set: letters only")

    def _new_pool(self) -> Executor:
        return render_pool(self.config.render_workers)

    async def run_cpu(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:  # the worker process died (killed, out of memory): a new one for next time
            log.error("notices.render_pool_broken", note="worker process died; starting another")
            self._pool = self._new_pool()
            raise

    async def _render(self, new_uow: Callable[[], UnitOfWork]) -> int:
        n = await render_pending(new_uow, self.config, self.run_cpu)
        self.rendered += n
        return n

    async def _mail(self, new_uow: Callable[[], UnitOfWork]) -> int:
        if self._mail_idle:  # at the start, and after a pass that found nothing due
            await release_orphaned_emails(new_uow, self.config)
        n = await send_due_emails(new_uow, self.config)
        self._mail_idle = n == 0
        self.emails_tried += n
        return n

    async def _loop(self, name: str, step: Callable[[], Awaitable[int]]) -> None:
        failures = 0
        while not self._stopping:
            try:
                busy = await step()
                failures = 0
            except Exception as exc:  # the database away, a broken pool: log, back off, go on
                failures += 1
                log.error(f"notices.{name}_error", error=f"{type(exc).__name__}: {exc}", failures=failures)
                busy = 0
                await asyncio.sleep(min(30.0, 0.5 * 2 ** failures))
            if not busy and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.config.idle_poll_seconds)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()

    def wake(self) -> None:
        """Work may be waiting: look now rather than at the next idle poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Lets a chunk in hand finish (its transaction commits or rolls back), then stops."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=60)
            for t in pending:
                t.cancel()
            self._tasks = []
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
