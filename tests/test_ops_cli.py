"""The operator's commands over a running stack: `rentflow dlq list|show|retry` on a poison
message the ledger set aside, and `rentflow replay --since` republishing from the outboxes with
the consumers absorbing the repeats (the control total still balances)."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from rentflow_cli.client import signed_headers


def push(url: str, secret: str, payload: object) -> httpx.Response:
    body = json.dumps(payload).encode()
    return httpx.post(url + "/v1/payments/batch", content=body, timeout=30, headers=signed_headers("ops", secret, body))


async def send_poison(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"this is": "not an event"}', key=b"RENT-X")
    finally:
        await producer.stop()


@pytest.mark.timeout(600)
def test_dead_letters_and_replay_through_the_cli(up, rentflow, stack_env):
    secret = rentflow("providers", "add", "ops", "--json")["secret"]
    batch = [{"provider_ref": f"ops-{i}", "channel": "card", "amount_pence": 1000 + i, "currency": "GBP",
              "paid_at": "2026-10-05T10:00:00+01:00", "reference": f"NOBODY {i}"} for i in range(20)]
    assert push(up.url("payments"), secret, batch).status_code == 202
    asyncio.run(send_poison(stack_env["KAFKA_BOOTSTRAP_SERVERS"],
                            stack_env["RENTFLOW_TOPIC_PREFIX"] + "payments.received.v1"))
    rentflow("wait", "--timeout", "120")  # the poison message is set aside; every payment balances

    letters = rentflow("dlq", "list", "--json")
    assert len(letters) == 1, letters
    letter = letters[0]
    assert (letter["service"], letter["group_id"], letter["status"]) == ("ledger", "ledger", "open")
    assert letter["topic"] == "payments.received.v1" and "undecodable" in letter["reason"]
    shown = rentflow("dlq", "show", str(letter["id"]), "--json")
    assert shown["message"] == '{"this is": "not an event"}' and shown["key"] == "RENT-X"
    assert "undecodable" in rentflow("dlq", "list").stdout
    again = rentflow("dlq", "retry", str(letter["id"]), check=False)
    assert again.returncode == 1 and "failed again" in again.stderr and "undecodable" in again.stderr
    missing = rentflow("dlq", "show", "999999", check=False)
    assert missing.returncode == 1 and "no dead letter 999999" in missing.stderr
    status = rentflow("status", "--json")
    assert status["ledger"]["consumers"]["ledger"]["open_dead_letters"] == 1

    replayed = rentflow("replay", "--since", "2000-01-01T00:00", "--topic", "payments.received.v1", "--json")
    assert replayed["payments"]["republishing"] == {"payments.received.v1": 20}
    assert replayed["ledger"]["republishing"] == {}  # the ledger never published on that topic
    bad = rentflow("replay", "--since", "yesterday", check=False)
    assert bad.returncode == 1 and "--since must be a date and time" in bad.stderr
    rentflow("wait", "--timeout", "120")  # the 20 again: absorbed, still balanced
    total = rentflow("payments", "reconcile", "--json")
    assert (total["balanced"], total["accepted_count"], total["ledger_count"]) == (True, 20, 20)
