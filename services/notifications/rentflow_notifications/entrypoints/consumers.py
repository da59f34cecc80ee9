"""The "notifications" consumer group: ledger.suspense.v1 and ledger.accounts.v1, in batches."""
from __future__ import annotations

from rentflow_common.service import ServiceRuntime

from rentflow_notifications.service_layer.handlers import ACCOUNTS_TOPIC, SUSPENSE_TOPIC, handle_ledger_events

GROUP_ID = "notifications"
TOPICS = [SUSPENSE_TOPIC, ACCOUNTS_TOPIC]


def register(runtime: ServiceRuntime) -> None:
    runtime.consume(GROUP_ID, TOPICS, handle_ledger_events)
