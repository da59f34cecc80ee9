"""The `rentflow tasks` and `rentflow notices` commands against the service run as a process:
JSON on stdout only, a one-line reason on stderr and a non-zero exit on failure."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from rentflow_common.kafka import ensure_topics
from rentflow_schemas import new_envelope
from rentflow_schemas.directdebit import DdFailure
from rentflow_schemas.ledger import AccountUpserted

RENTFLOW = str(Path(sys.executable).parent / "rentflow")
UTC = dt.timezone.utc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**kw: str) -> dict[str, str]:
    return dict(os.environ, **kw)


async def _rentflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [RENTFLOW, *args], env=env, capture_output=True, text=True,
                                   timeout=120)


async def test_tasks_and_notices_commands(infra, database_url, topic_prefix, tmp_path):
    bootstrap = infra.kafka_bootstrap_servers
    await ensure_topics(bootstrap, 3, ["ledger.accounts.v1", "ledger.dd-failures.v1", "ledger.mandates.v1",
                                       "ledger.rent-changes.v1", "ledger.suspense.v1", "notifications.tasks.v1",
                                       "notifications.notices.v1", "dlq.notifications"], prefix=topic_prefix)
    port = _free_port()
    env = _env(KAFKA_BOOTSTRAP_SERVERS=bootstrap, DATABASE_URL=database_url, RENTFLOW_TOPIC_PREFIX=topic_prefix,
               RENTFLOW_PORT=str(port), RENTFLOW_HOME=str(tmp_path / "home"))
    log = open(tmp_path / "service.log", "wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "rentflow_notifications", env=env,
                                                stdout=log, stderr=log)
    cli = _env(RENTFLOW_NOTIFICATIONS_URL=f"http://127.0.0.1:{port}", RENTFLOW_HOME=str(tmp_path / "none"))
    try:
        # until /health says ready (or the process dies); the deadline only guards against a hang: a
        # loaded machine (two test workers, other stacks) can take a minute to import and join the group
        deadline = asyncio.get_running_loop().time() + 180
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            ready, last = False, None
            while not ready and asyncio.get_running_loop().time() < deadline and proc.returncode is None:
                try:
                    last = await http.get("/health")
                    ready = last.status_code == 200
                except httpx.TransportError:
                    pass
                if not ready:
                    await asyncio.sleep(0.2)
            assert ready, (last.text if last is not None else "") + (tmp_path / "service.log").read_text()[-2000:]
            assert (await http.get("/v1/tasks")).status_code == 401  # nobody yet
            # the first admin, once, straight into the database (real infrastructure: nothing made silently)
            boot = _env(DATABASE_URL=database_url, RENTFLOW_HOME=str(tmp_path / "none"))
            r = await _rentflow(boot, "users", "bootstrap-admin", "root", "--role", "officer", "--json")
            assert r.returncode == 0, r.stderr
            assert "created the first admin root" in r.stderr
            admin = json.loads(r.stdout)
            assert admin["user"] == "root" and admin["roles"] == ["admin", "officer"]
            again = await _rentflow(boot, "users", "bootstrap-admin", "other", "--json")
            assert again.returncode == 1 and "an admin exists already" in again.stderr and again.stdout == ""
            cli["RENTFLOW_TOKEN"] = admin["token"]
            http.headers["Authorization"] = f"Bearer {admin['token']}"
            assert (await http.post("/v1/officers", json={"name": "Asha", "patches": ["N1"]})).status_code == 201
            ben = json.loads((await _rentflow(cli, "officers", "add", "Ben", "--json")).stdout)
            assert ben["user"] == "Ben" and ben["roles"] == ["officer"] and ben["token"].startswith("rf_")
            cara = (await _rentflow(cli, "users", "add", "Cara", "--role", "officer", "--json"))
            cara = json.loads(cara.stdout)
            as_ben, as_cara = dict(cli, RENTFLOW_TOKEN=ben["token"]), dict(cli, RENTFLOW_TOKEN=cara["token"])

            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
            await producer.start()
            try:
                acc = AccountUpserted(account_ref="5001", property="1 Low Road", patch="N1",
                                      tenancy_start=dt.date(2020, 4, 6), weekly_rent_pence=12000, balance_pence=0)
                fail = DdFailure(failure_id=uuid.uuid4(), return_id=uuid.uuid4(), account_ref="5001",
                                 reference="DD5001", amount_pence=12000, return_code="1",
                                 meaning="instruction cancelled", action="reverse; mandate cancelled",
                                 mandate_state="cancelled", may_represent=False,
                                 original_processing_date=dt.date(2026, 12, 1), payer_name="A TENANT",
                                 occurred_at=dt.datetime.now(UTC))
                for topic, data, et in [("ledger.accounts.v1", acc, "ledger.account_upserted"),
                                        ("ledger.dd-failures.v1", fail, "ledger.dd_failure")]:
                    env_ = new_envelope(data, event_type=et, event_id=uuid.uuid4(), producer="test",
                                        correlation_id="cli-test")
                    await producer.send_and_wait(topic_prefix + topic, env_.model_dump_json().encode(), key=b"5001")
            finally:
                await producer.stop()

            async def the_task():
                r = await _rentflow(cli, "tasks", "list", "--kind", "dd_failure", "--account", "5001", "--json")
                return json.loads(r.stdout) if r.returncode == 0 and json.loads(r.stdout) else None

            deadline = asyncio.get_running_loop().time() + 180  # a guard against a hang, not a wait
            tasks = None
            while tasks is None and asyncio.get_running_loop().time() < deadline:
                tasks = await the_task()
                if tasks is None:  # each look is a CLI process: not back to back on a busy machine
                    await asyncio.sleep(0.5)
            assert tasks, (tmp_path / "service.log").read_text()[-2000:]
            task = tasks[0]
            assert {"task_id", "kind", "account_ref", "assigned_to", "status", "due_on", "reason"} <= set(task)
            assert (task["kind"], task["assigned_to"], task["status"]) == ("dd_failure", "Asha", "open")
            # an officer works only their own patches: Ben, with none yet, may not take Asha's task
            r = await _rentflow(as_ben, "tasks", "claim", task["task_id"])
            assert r.returncode == 1 and "Ben has no patch" in r.stderr and "patch N1" in r.stderr, r.stderr
            for name in ("Ben", "Cara"):  # now they cover N1 too (their tokens stay)
                assert (await _rentflow(cli, "officers", "add", name, "--patch", "N1")).returncode == 0

            r = await _rentflow(as_ben, "tasks", "claim", task["task_id"], "--by", "Cara")  # not who Ben is
            assert r.returncode == 1 and "is not you" in r.stderr
            r = await _rentflow(as_ben, "tasks", "claim", task["task_id"], "--json")
            assert r.returncode == 0 and json.loads(r.stdout)["status"] == "in_progress", r.stderr
            assert json.loads(r.stdout)["claimed_by"] == "Ben"
            r = await _rentflow(as_cara, "tasks", "claim", task["task_id"])
            assert r.returncode == 1 and r.stdout == "" and "claimed by Ben" in r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
            r = await _rentflow(as_ben, "tasks", "complete", task["task_id"], "--by", "Ben", "--outcome",
                                "new mandate agreed", "--json")
            assert r.returncode == 0 and json.loads(r.stdout)["outcome"] == "new mandate agreed", r.stderr
            r = await _rentflow(as_ben, "tasks", "complete", task["task_id"], "--outcome", "again")
            assert r.returncode == 1 and "already done" in r.stderr
            r = await _rentflow(cli, "tasks", "list", "--status", "done", "--assigned-to", "Ben", "--json")
            assert [t["task_id"] for t in json.loads(r.stdout)] == [task["task_id"]]
            r = await _rentflow(as_ben, "tasks", "claim", str(uuid.uuid4()))
            assert r.returncode == 1 and "404" in r.stderr
            # Ben disabled: his token stops working at once
            assert (await _rentflow(cli, "users", "disable", "Ben")).returncode == 0
            r = await _rentflow(as_ben, "tasks", "list")
            assert r.returncode == 1 and "401" in r.stderr

            async def the_letter():
                r = await _rentflow(cli, "notices", "list", "--kind", "dd_failure", "--json")
                found = json.loads(r.stdout) if r.returncode == 0 else []
                return found if found and found[0]["status"] == "produced" else None

            letters = None
            deadline = asyncio.get_running_loop().time() + 180  # a guard against a hang, not a wait
            while letters is None and asyncio.get_running_loop().time() < deadline:
                letters = await the_letter()
                if letters is None:
                    await asyncio.sleep(0.5)
            assert letters, (tmp_path / "service.log").read_text()[-2000:]
            assert {"notice_id", "kind", "account_ref", "served_on", "effective_on", "old_weekly_pence",
                    "new_weekly_pence", "document"} <= set(letters[0])
            assert Path(letters[0]["document"]).read_bytes().startswith(b"%PDF-")
            assert str(tmp_path / "home" / "letters") in letters[0]["document"]  # under $RENTFLOW_HOME/letters
            r = await _rentflow(cli, "notices", "progress", "--json")
            assert r.returncode == 0 and json.loads(r.stdout)["runs"][0]["produced"] == 1, r.stderr
            r = await _rentflow(cli, "notices", "print", letters[0]["run"], "--json")
            assert r.returncode == 0 and json.loads(r.stdout)["pages"] == 1, r.stderr
            r = await _rentflow(cli, "notices", "print", "rent_review:2027-04-05")
            assert r.returncode == 1 and "no produced letters" in r.stderr
            r = await _rentflow(cli, "contacts", "set", "5001", "--email", "nope")
            assert r.returncode == 1 and "email" in r.stderr
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 40) in (0, -signal.SIGTERM)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
