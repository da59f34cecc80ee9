"""The outbox rig: what the outbox, relay and consumer tests set up on real infrastructure."""
from __future__ import annotations

import pytest

from rentflow_common.testing import OutboxRig, outbox_rig


@pytest.fixture
async def rig(infra, database_url, topic_prefix):
    """`await rig(topics, partitions=3, tables=(DDL, ...))` → an OutboxRig (engine, started producer,
    `.relay(**options)`); whatever was made is closed after the test."""
    made: list[OutboxRig] = []

    async def make(topics: list[str], **options) -> OutboxRig:
        made.append(await outbox_rig(infra, database_url, topic_prefix, topics, **options))
        return made[-1]

    yield make
    for r in reversed(made):
        await r.close()
