"""The ledger's outbox relay runs in a child process (rentflow_common.relay_process): what it
publishes, what the service shows of it, a child killed (started again, nothing lost), and a child
that ends with its service, stopped or killed outright. Real PostgreSQL and broker."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import psutil

from ledger_support import CSV, payment, poll, read_topic, running_ledger
from rentflow_common.relay_process import RelayProcess

REFS = [f"5000000{i}" for i in range(1, 4)]
ACCOUNTS = "account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence\n" + \
    "".join(f"{r},T{i},{i} B St,N,2026-04-06,9000,0\n" for i, r in enumerate(REFS, 1))


async def until(condition, timeout: float = 30.0):
    async def check():
        return condition()
    return await poll(check, timeout)


async def posted_events(ledger, payment_ids: set[str]) -> list[dict]:
    """TransactionPosted events of these payments on ledger.transactions.v1."""
    def done(got: list[dict]) -> bool:
        return payment_ids <= {e["data"].get("payment_id") for e in got}

    events = await read_topic(ledger.bootstrap, ledger.prefix + "ledger.transactions.v1", until=done, timeout=30)
    return [e for e in events if e["data"].get("payment_id") in payment_ids]


async def send_payments(ledger, tag: str, n: int) -> set[str]:
    envs = [payment(REFS[i % len(REFS)], 100 + i, provider_ref=f"{tag}-{i}") for i in range(n)]
    for i, env in enumerate(envs):
        await ledger.publish("payments.received.v1", env, key=REFS[i % len(REFS)])
    return {str(e.data.payment_id) for e in envs}


async def test_the_ledger_relays_from_a_child_process_and_one_killed_is_started_again_losing_nothing(
        infra, service_env, topic_prefix, monkeypatch):
    monkeypatch.setattr("rentflow_common.relay_process.FIRST_BACKOFF_S", 2.0)  # time to look while it is down
    async with running_ledger(infra, topic_prefix) as ledger:
        runtime = ledger.app.state.runtime
        relay = runtime.relay
        assert isinstance(relay, RelayProcess)
        assert (await ledger.http.post("/v1/accounts/import", content=ACCOUNTS, headers=CSV)).status_code == 200
        first = await send_payments(ledger, "a", 12)
        events = await posted_events(ledger, first)
        assert {e["data"]["payment_id"] for e in events} == first
        child = psutil.Process(relay.pid)
        assert relay.pid != os.getpid() and child.ppid() == os.getpid()
        await until(lambda: relay.published >= len(first) and relay.leader)  # the child's figures, mirrored
        status = await runtime.status()
        assert status["relay_process"] == {"pid": relay.pid, "alive": True, "restarts": 0}
        assert status["outbox_published"] >= len(first)
        assert (await runtime.health())["status"] == "ok"

        published_before = relay.published
        os.kill(relay.pid, signal.SIGKILL)
        await until(lambda: not relay.alive, timeout=10)
        assert any("relay process not running" in p for p in (await runtime.health())["problems"])
        second = await send_payments(ledger, "b", 12)  # committed while no relay runs: kept in the outbox
        await until(lambda: relay.alive and relay.restarts == 1 and relay.pid != child.pid, timeout=15)
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        events = await posted_events(ledger, second)
        assert {e["data"]["payment_id"] for e in events} == second
        await until(lambda: relay.published >= published_before + len(second))  # counts go on from the first child's
        async def healthy():
            return (await runtime.health())["status"] == "ok"
        await poll(healthy, timeout=10)
        await until(lambda: relay.leader)
        status = await runtime.status()
        assert status["relay_process"]["restarts"] == 1 and status["outbox"]["backlog"] == 0
        restarted = psutil.Process(relay.pid)
    # stopped with the service
    assert not restarted.is_running() or restarted.status() == psutil.STATUS_ZOMBIE


async def test_the_relay_process_ends_when_its_service_is_killed_outright(infra, service_env, topic_prefix, tmp_path):
    script = textwrap.dedent("""
        import asyncio, sys
        from rentflow_ledger.bootstrap import build_runtime

        async def main():
            runtime = build_runtime()
            runtime.consumers.clear()
            await runtime.start()
            while not runtime.relay.leader:
                await asyncio.sleep(0.05)
            print("relay-pid", runtime.relay.pid, flush=True)
            await asyncio.sleep(3600)

        asyncio.run(main())
    """)
    service = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=os.environ.copy())
    try:
        async def relay_pid() -> int:
            while True:
                line = (await asyncio.to_thread(service.stdout.readline)).decode()
                assert line, "the service ended before its relay led"
                if line.startswith("relay-pid "):
                    return int(line.split()[1])
        child = psutil.Process(await asyncio.wait_for(relay_pid(), timeout=60))
        assert child.ppid() == service.pid
        service.send_signal(signal.SIGKILL)
        service.wait(10)
        gone, _ = await asyncio.to_thread(psutil.wait_procs, [child], 10)
        assert gone, "the relay process outlived its service"
    finally:
        if service.poll() is None:
            service.kill()
