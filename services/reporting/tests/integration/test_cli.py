"""The `rentflow` commands of reporting against the real service (uvicorn, in this process) on
real PostgreSQL and broker: kpi in every format, returns, statements, and status --json when
the other services are down."""
from __future__ import annotations

import asyncio
import csv
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from openpyxl import load_workbook

from rentflow_common.kafka import ensure_topics
from rentflow_common.testing import grant

RENTFLOW = str(Path(sys.executable).parent / "rentflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_reporting_commands(infra, service_env, tmp_path):
    from rentflow_reporting.bootstrap import build_app

    # the year of events the period test checks by hand (test_kpi_periods.py)
    spec = importlib.util.spec_from_file_location("kpi_periods", Path(__file__).with_name("test_kpi_periods.py"))
    periods = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(periods)

    prefix = service_env["topic_prefix"]
    await ensure_topics(infra.kafka_bootstrap_servers, 3, prefix=prefix)
    port = free_port()
    app = build_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            async def poll(check, timeout=60.0):
                deadline = asyncio.get_running_loop().time() + timeout
                while not await check():
                    assert asyncio.get_running_loop().time() < deadline, "timed out"
                    await asyncio.sleep(0.2)

            async def healthy():
                try:
                    return (await http.get("/health")).status_code == 200
                except httpx.HTTPError:
                    return False

            await poll(healthy)
            auth = await grant(app)  # a user with every role, as the CLI's RENTFLOW_TOKEN below
            http.headers.update(auth)
            events = periods.year_of_events()
            producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
            await producer.start()
            for item in events:
                await producer.send_and_wait(prefix + item.topic, item.envelope.model_dump_json().encode(),
                                             key=item.key.encode())
            await producer.stop()

            async def consumed():
                st = (await http.get("/v1/ops/status")).json()
                return st["consumers"]["reporting"]["messages"] >= len(events)

            await poll(consumed)

        env = {**os.environ, "COLUMNS": "250", "RENTFLOW_HOME": str(tmp_path / "home"), "RENTFLOW_REPORTING_URL": url,
               "RENTFLOW_TOKEN": auth["Authorization"].removeprefix("Bearer "),
               **{f"RENTFLOW_{s}_URL": "http://127.0.0.1:9" for s in ("PAYMENTS", "LEDGER", "NOTIFICATIONS")}}

        async def rentflow(*args):
            return await asyncio.to_thread(subprocess.run, [RENTFLOW, *args], env=env, capture_output=True,
                                           text=True, timeout=120, cwd=tmp_path)

        k = await rentflow("kpi", "--period", "year", "--as-of", "2027-03-31", "--format", "json")
        assert k.returncode == 0, k.stderr
        assert '"dd_failure_rate_pct":50.00' in k.stdout and '"written_off_pct":2.69' in k.stdout  # two decimals
        assert json.loads(k.stdout)["collected_pence"] == 22700

        c = await rentflow("kpi", "--period", "year", "--as-of", "2027-03-31", "--format", "csv")
        rows = {r[0]: r for r in csv.reader(io.StringIO(c.stdout))}
        assert rows["dd_failure_rate_pct"][1] == "50.00" and rows["collected_by_channel.cash"][1] == "700"
        assert "dd_collections_presented" in rows["dd_failure_rate_pct"][2]  # the definition beside it

        x = await rentflow("kpi", "--period", "year", "--as-of", "2027-03-31", "--format", "xlsx")
        assert x.returncode == 0 and x.stdout == "", x.stderr
        written = tmp_path / "kpi-year-2026-04-01.xlsx"
        assert str(written) in x.stderr.replace("\n", "")
        sheet = {r[0]: r[1] for r in load_workbook(written).active.iter_rows(min_row=3, values_only=True)}
        assert sheet["debit_pence"] == 54000 and sheet["rent_collected_pct_excl_arrears_bf"] == 42.04

        lahs = await rentflow("returns", "lahs", "--year", "2026", "--as-of", "2027-04-01", "--format", "csv")
        items = {r[0]: r for r in csv.reader(io.StringIO(lahs.stdout))}
        assert items["current_tenant_arrears"][2] == "24500" and items["written_off"][2] == "14000"
        assert items["rent_collected_pct"][2] == "42.04" and items["rent_collected_pct"][4]
        bench = await rentflow("returns", "benchmark", "--year", "2026", "--as-of", "2027-04-01")
        assert bench.returncode == 0 and "Current tenant arrears as % of rent debit" in bench.stdout
        assert "45.37%" in bench.stdout and "£540.00" in bench.stdout  # 24500 / 54000; rent due

        bad = await rentflow("statements", "run", "--quarter", "2026-Q5")
        assert bad.returncode == 1 and "2026-Q5" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        run = await rentflow("statements", "run", "--quarter", "2026-Q3", "--output", str(tmp_path / "st"), "--json")
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["written"] == 2 and (tmp_path / "st" / "pdf" / "A.pdf").exists()

        s = await rentflow("status", "--json")
        assert s.returncode == 1
        assert "not answering: payments, ledger, notifications" in s.stderr and len(s.stderr.strip().splitlines()) == 1
        doc = json.loads(s.stdout)
        assert [doc[n]["reachable"] for n in ("payments", "ledger", "notifications")] == [False] * 3
        group = doc["reporting"]["consumers"]["reporting"]
        assert group["lag"] == 0 and set(group["lag_by_topic"]) == {"ledger.transactions.v1", "ledger.suspense.v1",
                                                                     "ledger.accounts.v1"}
        assert group["messages"] == len(events) and group["dead_letters"] == 0
        assert "outbox_backlog" in doc["reporting"] and "messages_per_s" in group
    finally:
        server.should_exit = True
        await serving
