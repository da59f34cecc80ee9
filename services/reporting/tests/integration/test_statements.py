"""Quarterly rent statements from postings the reporting service kept itself, on real
PostgreSQL, through the HTTP API: files written, opening + transactions = closing, PDFs that
open as PDFs with the right page count, CSV rows, and bad input named."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import uuid
import zipfile

import httpx

from rentflow_common.testing import grant

from rentflow_common.testing import Incoming
from rentflow_common.db import UnitOfWork
from rentflow_common.migrations import upgrade_async
from rentflow_schemas import new_envelope
from rentflow_schemas.ledger import AccountUpserted, TransactionPosted

from rentflow_reporting.bootstrap import MIGRATIONS, build_app
from rentflow_reporting.service_layer.handlers import apply_ledger_events

UTC = dt.timezone.utc
D = dt.date
FORMULA_NAME = '=HYPERLINK("http://evil.example","Bea Jones")'  # what a spreadsheet would run


def _incoming(topic, key, data, event_type):
    return Incoming(topic, 0, 0, key, new_envelope(data, event_type=event_type, event_id=uuid.uuid4(),
                                                   producer="ledger", correlation_id="c"))


def txn(account, code, amount, day, minute=0):
    data = TransactionPosted(transaction_id=uuid.uuid4(), account_ref=account, type_code=code, amount_pence=amount,
                             balance_after_pence=0, posted_at=dt.datetime.combine(day, dt.time(12, minute), UTC),
                             business_date=day, period=f"{day:%Y-%m}", source_ref="s")
    return _incoming("ledger.transactions.v1", account, data, "ledger.transaction_posted")


def account(ref, name, end=None):
    data = AccountUpserted(account_ref=ref, property=f"{ref} Oak Road", patch="P", tenant_name=name,
                           tenancy_start=D(2019, 4, 1), tenancy_end=end, weekly_rent_pence=12000, balance_pence=0)
    return _incoming("ledger.accounts.v1", ref, data, "ledger.account_upserted")


def events():
    ev = [account("A", "Alex Smith"), account("B", FORMULA_NAME, end=D(2026, 9, 30)),
          account("C", "Cy Brown", end=D(2026, 6, 30)), account("D", "Łucja Nowak"),
          txn("A", "BBF", 2500, D(2026, 3, 31)), txn("B", "BBF", 4000, D(2026, 3, 31)),
          txn("A", "DBR", 12000, D(2026, 9, 28)),                 # before the quarter: in the opening balance
          txn("A", "DBR", 12000, D(2026, 10, 5)), txn("A", "RDD", -12000, D(2026, 10, 6)),
          txn("A", "RDN", 12000, D(2026, 10, 9)), txn("A", "RCP", -5000, D(2026, 10, 20)),
          txn("A", "DBR", 12000, D(2027, 1, 4))]                  # after it: not on the statement
    # D: a long quarter, 130 postings, so its statement runs over several pages
    for i in range(65):
        day = D(2026, 10, 1) + dt.timedelta(days=i)
        ev += [txn("D", "DBR", 1000, day), txn("D", "RCP", -900, day, minute=1)]
    return ev


async def test_quarterly_statements(service_env, tmp_path, monkeypatch):
    folder = tmp_path / "service-owned"
    monkeypatch.setenv("RENTFLOW_STATEMENTS_DIR", str(folder))
    await upgrade_async(MIGRATIONS, service_env["database_url"], "reporting")
    app = build_app()
    runtime = app.state.runtime
    await runtime.identity_tables()  # principals (who may call), without starting the consumers
    try:
        async with UnitOfWork(runtime.engine) as uow:
            await apply_ledger_events(uow, events())
            await uow.commit()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), headers=await grant(app), base_url="http://t") as http:
            bad = await http.post("/v1/statements/runs", json={"quarter": "2026-Q5"})
            assert bad.status_code == 422 and "'2026-Q5'" in bad.json()["detail"]
            assert "Q1 April–June" in bad.json()["detail"]
            for where in (str(tmp_path / "elsewhere"), "out", "/etc"):  # the caller never names where it writes
                named = await http.post("/v1/statements/runs", json={"quarter": "2026-Q3", "output_dir": where})
                assert named.status_code == 422 and named.json()["detail"].startswith("output_dir: ")
            assert not (tmp_path / "elsewhere").exists() and not folder.exists()

            one = (await http.get("/v1/statements/2026-Q3/A")).json()
            # opening at 30 Sep: 2500 + 12000; then +12000 −12000 +12000 −5000
            assert (one["opening_balance_pence"], one["closing_balance_pence"]) == (14500, 21500)
            assert [(t["type"], t["meaning"], t["balance_pence"]) for t in one["transactions"]] == [
                ("DBR", "Rent", 26500), ("RDD", "Direct Debit", 14500), ("RDN", "Direct Debit unpaid", 26500),
                ("RCP", "Card payment", 21500)]
            assert one["opening_balance_pence"] + sum(t["amount_pence"] for t in one["transactions"]) == \
                one["closing_balance_pence"]
            assert (await http.get("/v1/statements/2026-Q3/ZZZ")).status_code == 404

            started = await http.post("/v1/statements/runs", json={"quarter": "2026-Q3"})
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            assert "output_dir" not in started.json()  # where the service keeps files is its own business
            deadline = asyncio.get_running_loop().time() + 60
            while (run := (await http.get(f"/v1/statements/runs/{run_id}")).json())["status"] == "running":
                assert asyncio.get_running_loop().time() < deadline, run
                assert (await http.get(f"/v1/statements/runs/{run_id}/archive")).status_code in (409, 200)
                await asyncio.sleep(0.1)
            assert run["status"] == "done", run
            assert [p.name for p in folder.iterdir()] == [run_id]  # written into the service's folder only
            trail = [(e["user"], e["action"], e["subject"], e["after"].get("status"), e["after"].get("written"))
                     for e in (await http.get("/v1/audit")).json()["entries"] if e["action"].startswith("statements.")]
            assert trail == [("tester", "statements.run_started", run_id, None, None),
                             ("tester", "statements.run_finished", run_id, "done", 3)]  # who started it, both

            # downloaded through the API: the list, each file, and one zip of them all
            listed = (await http.get(run["files"])).json()["files"]
            assert listed == ["index.csv", "pdf/A.pdf", "pdf/B.pdf", "pdf/D.pdf", "csv/A.csv", "csv/B.csv", "csv/D.csv"]
            out = tmp_path / "downloaded"
            for name in listed:
                got = await http.get(f"{run['files']}/{name}")
                assert got.status_code == 200, name
                (out / name).parent.mkdir(parents=True, exist_ok=True)
                (out / name).write_bytes(got.content)
            zipped = await http.get(run["archive"])
            assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
            with zipfile.ZipFile(io.BytesIO(zipped.content)) as z:
                assert sorted(z.namelist()) == sorted(f"statements-2026-Q3/{n}" for n in listed)
                assert z.read("statements-2026-Q3/pdf/A.pdf") == (out / "pdf" / "A.pdf").read_bytes()
            for name in ("../../etc/passwd", "pdf/../../x.pdf", "pdf/..%2F..%2Fx.pdf", "statements.zip", "pdf",
                         "%2Fetc%2Fpasswd", "pdf/A.pdf%00.csv"):
                assert (await http.get(f"{run['files']}/{name}")).status_code in (404, 422), name
            for path in (f"/v1/statements/runs/{uuid.uuid4()}/archive", f"/v1/statements/runs/{uuid.uuid4()}/files"):
                assert (await http.get(path)).status_code == 404
        # A, B (former, owes 4000) and D; C ended before the quarter owing nothing
        assert (run["total"], run["done"], run["written"], run["skipped"]) == (4, 4, 3, 1)
        assert run["closing_mismatches"] == 0

        index = list(csv.DictReader((out / "index.csv").open()))
        assert [(r["account_ref"], r["opening_pence"], r["closing_pence"], r["lines"]) for r in index] == [
            ("A", "14500", "21500", "4"), ("B", "4000", "4000", "0"),
            ("D", "0", "6500", "130")]                        # 65 × (1000 − 900)
        pages = {}
        for r in index:
            pdf = (out / r["pdf"]).read_bytes()
            assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
            pages[r["account_ref"]] = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
            assert pages[r["account_ref"]] == int(r["pdf_pages"])
        assert pages["A"] == pages["B"] == 1 and pages["D"] == 4  # 132 rows at ~37 a page
        assert run["pdf_pages"] == sum(pages.values())

        # a formula-looking name is text in every CSV, never a formula
        assert index[1]["tenant_name"] == "'" + FORMULA_NAME
        assert all(not c.startswith(("=", "+", "@")) for r in csv.reader((out / "csv" / "B.csv").open()) for c in r)

        rows = list(csv.reader((out / "csv" / "A.csv").open()))
        assert rows[0][:2] == ["account_ref", "date"] and len(rows) == 1 + 1 + 4 + 1  # header, opening, 4, closing
        assert rows[1][3] == "Opening balance" and rows[-1][3] == "Closing balance" and rows[-1][-1] == "21500"
        assert sum(int(r[6]) for r in rows[2:-1]) == 21500 - 14500
    finally:
        await runtime.engine.dispose()
