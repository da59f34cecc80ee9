"""SIGKILL the ledger mid-stream, restart it: no payment lost, none posted twice, still balanced."""
from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from rentflow_cli import sample
from rentflow_cli.client import Client, signed_headers
from rentflow_cli.stack import Stack

ACCOUNTS = 200
PAYMENTS = 6000
BACKLOG = 60_000  # taken in batches of thousands, which overlap (BatchConsumer OVERLAP_MIN); the first, with
# the users topic's message, does not
BATCH = 200


@pytest.mark.timeout(900)
def test_ledger_killed_mid_stream_loses_and_duplicates_nothing(stack_env, monkeypatch):
    with _landlord_stack(stack_env, monkeypatch, PAYMENTS) as (stack, c, accs, secret, bodies):
        pushed = threading.Event()

        def push_all() -> None:
            _push(c, secret, bodies, pause=0.05)  # keep the stream flowing while the ledger dies
            pushed.set()

        pusher = threading.Thread(target=push_all)
        pusher.start()
        deadline = time.monotonic() + 120
        while _ledger_consumed(c) < 1000:  # mid-stream: some posted, most not
            assert time.monotonic() < deadline, "ledger never started consuming"
            time.sleep(0.05)
        consumed_before_kill = _ledger_consumed(c)
        still_pushing = not pushed.is_set()
        stack.kill_service("ledger")  # SIGKILL: no shutdown, no offset commit
        time.sleep(1.0)
        stack.start_service("ledger")
        pusher.join(300)
        assert pushed.is_set()
        c.wait_until_processed(timeout=300)
        _each_payment_taken_once(c, accs, bodies)
        assert still_pushing and consumed_before_kill < PAYMENTS  # the kill really was mid-stream


@pytest.mark.timeout(900)
def test_ledger_killed_while_overlapping_a_backlog_loses_and_duplicates_nothing(stack_env, monkeypatch):
    """The ledger taking a backlog in overlapping batches (one committing, the next worked beside it) is
    SIGKILLed as soon as it has written one so: both transactions in hand die with it."""
    with _landlord_stack(stack_env, monkeypatch, BACKLOG) as (stack, c, accs, secret, bodies):
        stack.kill_service("ledger")
        _push(c, secret, bodies)  # answered 202 while the ledger is down
        stack.start_service("ledger")
        deadline = time.monotonic() + 120
        while _ledger_group(c).get("overlapped", 0) < 1:
            assert time.monotonic() < deadline, f"the ledger never overlapped two batches: {_ledger_group(c)}"
            time.sleep(0.02)
        consumed_before_kill = _ledger_consumed(c)
        stack.kill_service("ledger")
        stack.start_service("ledger")
        c.wait_until_processed(timeout=300)
        _each_payment_taken_once(c, accs, bodies)
        assert consumed_before_kill < BACKLOG  # killed with the backlog still being taken


@contextmanager
def _landlord_stack(stack_env: dict[str, str], monkeypatch: Any, payments: int) -> Iterator[tuple[Any, ...]]:
    """A stack (its environment set for the test) with a landlord's accounts and a provider: the stack, a client,
    then `_landlord`'s accounts, secret and the bodies of `payments` payments."""
    for k, v in stack_env.items():
        monkeypatch.setenv(k, v)
    home = Path(stack_env["RENTFLOW_HOME"])
    with Stack(home) as stack:
        c = Client(home)
        yield (stack, c, *_landlord(c, payments))


def _push(c: Client, secret: str, bodies: list[dict], pause: float = 0.0) -> None:
    """The bodies in signed batches of BATCH, each answered 202, `pause` seconds after each."""
    with httpx.Client(base_url=c.url("payments"), timeout=60) as http:
        for start in range(0, len(bodies), BATCH):
            body = json.dumps(bodies[start:start + BATCH]).encode()
            r = http.post("/v1/payments/batch", content=body, headers=signed_headers("crash", secret, body))
            assert r.status_code == 202, r.text
            time.sleep(pause)


def _landlord(c: Client, payments: int) -> tuple[list, str, list[dict]]:
    """The accounts, a provider's secret, and the payments' bodies: payment i goes to account i % ACCOUNTS;
    every tenth quotes no known reference (suspense)."""
    accs = [a for a in sample.accounts(ACCOUNTS, seed=5)]
    assert not c.post("ledger", "/v1/accounts/import", content=sample.accounts_csv(accs).encode(),
                      headers={"Content-Type": "text/csv"})["errors"]
    secret = c.post("payments", "/v1/providers", json={"name": "crash", "secret": None})["secret"]
    bodies = []
    for i in range(payments):
        ref = accs[i % ACCOUNTS].ref if i % 10 else f"UNKNOWN {i}"
        bodies.append({"provider_ref": f"crash-{i}", "channel": "card", "amount_pence": 100 + i % 50,
                       "currency": "GBP", "paid_at": "2026-10-07T10:00:00+00:00", "reference": ref})
    return accs, secret, bodies


def _each_payment_taken_once(c: Client, accs: list, bodies: list[dict]) -> None:
    expected: dict[str, int] = {a.ref: 0 for a in accs}
    expected_count: dict[str, int] = {a.ref: 0 for a in accs}
    for i, b in enumerate(bodies):
        if i % 10:
            expected[b["reference"]] += b["amount_pence"]
            expected_count[b["reference"]] += 1
    for a in accs:
        shown = c.get("ledger", f"/v1/accounts/{a.ref}")
        receipts = [t for t in shown["transactions"] if t["type"] == "RCP"]
        assert len(receipts) == expected_count[a.ref], a.ref  # nothing lost, nothing twice
        assert -sum(t["amount_pence"] for t in receipts) == expected[a.ref]
        assert shown["balance_pence"] == a.opening_balance - expected[a.ref]
    suspense = c.get("ledger", "/v1/suspense")
    assert suspense["count"] == len(bodies) // 10
    assert sorted(i["reference"] for i in suspense["items"]) == sorted(f"UNKNOWN {i}" for i in range(0, len(bodies), 10))
    invariants = c.get("ledger", "/v1/invariants")
    assert invariants["balanced"] is True and invariants["unbalanced_journals"] == 0


def _ledger_consumed(c: Client) -> int:
    try:
        status = c.get("ledger", "/v1/ops/status")
    except Exception:
        return 0
    return sum(int(g.get("messages", 0)) for g in status.get("consumers", {}).values())


def _ledger_group(c: Client) -> dict:
    try:
        return c.get("ledger", "/v1/ops/status").get("consumers", {}).get("ledger", {})
    except Exception:
        return {}
