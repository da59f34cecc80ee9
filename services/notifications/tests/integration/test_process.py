"""`python -m rentflow_notifications` starts, answers /health and stops cleanly on SIGTERM."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import asyncpg
import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_runs_as_a_process(infra, database_url, topic_prefix, tmp_path):
    port = _free_port()
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap_servers, DATABASE_URL=database_url,
               RENTFLOW_TOPIC_PREFIX=topic_prefix, RENTFLOW_PORT=str(port), RENTFLOW_HOME=str(tmp_path))
    log = open(tmp_path / "service.log", "wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "rentflow_notifications", env=env,
                                                stdout=log, stderr=log)
    try:
        # until /health says ready (or the process dies); the deadline only guards against a hang: a
        # loaded machine (two test workers, other stacks) can take a minute to import and join the group
        deadline = asyncio.get_running_loop().time() + 180
        ready, last = False, None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            while not ready and asyncio.get_running_loop().time() < deadline and proc.returncode is None:
                try:
                    last = await http.get("/health")
                    ready = last.status_code == 200
                except httpx.TransportError:
                    pass
                if not ready:  # a 503 while starting is asked again after a pause, not in a tight loop
                    await asyncio.sleep(0.2)
            assert ready, (last.text if last is not None else "") + (tmp_path / "service.log").read_text()[-2000:]
            assert (await http.post("/v1/officers", json={"name": "Asha", "patches": ["N1"]})).status_code == 401
            from rentflow_common.auth import new_token, token_hash  # a user, as `users bootstrap-admin` makes one
            token = new_token()
            conn = await asyncpg.connect(database_url)
            try:
                await conn.execute("insert into notifications.users (name, roles, token_sha256, version) "
                                   "values ('root', '{admin,officer}', $1, 1)", token_hash(token))
            finally:
                await conn.close()
            http.headers["Authorization"] = f"Bearer {token}"
            r = await http.post("/v1/officers", json={"name": "Asha", "patches": ["N1"]})
            assert r.status_code == 201 and r.json()["token"].startswith("rf_")
            assert (await http.get("/v1/tasks")).json() == {"tasks": [], "count": 0}
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 40)
        assert code in (0, -signal.SIGTERM), code  # uvicorn re-raises the signal after a clean stop
        assert b"service.stopped" in (tmp_path / "service.log").read_bytes()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
