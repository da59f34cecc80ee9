"""The "notifications" consumer group: every ledger topic notifications reads, in batches."""
from __future__ import annotations

from functools import partial

from rentflow_common.service import ServiceRuntime

from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.service_layer.handlers import TOPICS, handle_ledger_events

GROUP_ID = "notifications"


def register(runtime: ServiceRuntime, config: NotificationsConfig) -> None:
    handler = partial(handle_ledger_events, config=config)
    # seven topics, off the payment's path: a longer fetch wait spares the broker most of its polling
    runtime.consume(GROUP_ID, {topic: handler for topic in TOPICS},
                    busy_wait_ms=runtime.settings.background_fetch_wait_ms)
