"""End to end, as a new user: `rentflow up` (four processes), providers push over HTTP, and the
CLI shows balances, suspense, tasks, KPIs and the GL reconciliation; SIGTERM stops it all."""
from __future__ import annotations

import json
import os
import re
import time

import httpx
import pytest

from rentflow_cli.client import sign
from rentflow_common.testing import london_today

ACCOUNTS_CSV = """\
account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,weekly_charges_pence,opening_balance_pence,payment_method,dd_reference,balance_date,notes
10000010,Alex Smith,1 Oak Road,N1,2015-01-05,12000,500,0,so,,2026-10-04,ignored column
10000028,Sam Jones,2 Oak Road,N2,2016-03-07,11000,0,2500,dd,RF10000028,2026-10-04,
10000036,Jo Brown,3 Oak Road,N1,2017-05-01,10000,0,-1000,cash,,2026-10-04,
"""


def push(url: str, path: str, provider: str, secret: str, payload: object, signature: str | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    sig = signature or sign(secret, body)  # t=<now>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    return httpx.post(url + path, content=body, timeout=30,
                      headers={"X-Provider-Id": provider, "X-Signature": sig, "Content-Type": "application/json"})


def payment(ref: str, channel: str, amount: int, reference: str, paid_at: str = "2026-10-06T08:00:00+01:00") -> dict:
    return {"provider_ref": ref, "channel": channel, "amount_pence": amount, "currency": "GBP",
            "paid_at": paid_at, "reference": reference, "payer_name": "A Payer"}


def thread_priorities(pid: int) -> set[int]:
    """The nice value of each thread of a process (Linux keeps one per thread)."""
    return {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def loaded(pid: int, library: str) -> bool:
    """Whether a process has a shared library of this name mapped (a C extension it imported)."""
    with open(f"/proc/{pid}/maps") as maps:
        return any(f"/{library}/" in line for line in maps)


@pytest.mark.timeout(600)
def test_push_to_posted_through_the_cli(up, rentflow, tmp_path):
    started_on = london_today()  # the receipts' posting day, unless the test runs over midnight
    # the services off a payment's path to its account yield the cores to intake and the ledger
    pids = {name: s["pid"] for name, s in up.runtime["services"].items()}
    ours = os.getpriority(os.PRIO_PROCESS, 0)  # what `rentflow up` and the services inherit
    assert {name: thread_priorities(pid) for name, pid in pids.items()} == {
        "payments": {ours}, "ledger": {ours}, "notifications": {max(ours, 10)}, "reporting": {max(ours, 10)}}
    # each on uvloop's event loop and httptools' HTTP parser (RENTFLOW_EVENT_LOOP's default)
    assert {name: (loaded(pid, "uvloop"), loaded(pid, "httptools")) for name, pid in pids.items()} == {
        name: (True, True) for name in pids}
    # each keeps the memory its batches free for the next ones (RENTFLOW_MEMORY_KEEP_MB's default), and
    # its watchdog would end it were a consumer stuck (RENTFLOW_STUCK_EXIT_S's default)
    status = {name: doc for name, doc in rentflow("status", "--json").items() if name in pids}
    assert {name: (doc["memory_kept"]["capacity_bytes"], doc["stuck_exit_after_s"]) for name, doc in status.items()} \
        == {name: (256 * 2**20, 120.0) for name in pids}
    csv_path = tmp_path / "accounts.csv"
    csv_path.write_text(ACCOUNTS_CSV)
    assert rentflow("accounts", "import", str(csv_path), "--json")["created"] == 3
    assert rentflow("accounts", "import", str(csv_path), "--json")["created"] == 0  # never duplicated

    secret = rentflow("providers", "add", "acme", "--json")["secret"]
    asha = rentflow("officers", "add", "Asha Patel", "--patch", "N1", "--json")
    assert asha["user"] == "Asha Patel" and asha["roles"] == ["officer"]
    as_asha = {"RENTFLOW_TOKEN": asha["token"]}
    first = rentflow("ledger", "run-debits", "--through", "2026-10-12", "--json")
    assert first["debits_raised"] == 8  # weeks of 5 and 12 October: A rent+charge, B rent, C rent
    assert first["amount_pence"] == 2 * (12000 + 500) + 2 * 11000 + 2 * 10000
    assert rentflow("ledger", "run-debits", "--through", "2026-10-12", "--json")["debits_raised"] == 0

    pay_url = up.url("payments")
    single = payment("so-1", "standing_order", 12500, "1000 0010")
    r = push(pay_url, "/v1/payments", "acme", secret, single)
    assert r.status_code == 202, r.text
    first_id = r.json()["payment_id"]
    batch = [payment("dd-1", "direct_debit", 11000, "RF10000028"),
             payment("bt-1", "bank_transfer", 5000, "RENT OCTOBER"),
             payment("cash-1", "cash", 10000, "10000036")]
    r = push(pay_url, "/v1/payments/batch", "acme", secret, batch)
    assert r.status_code == 202, r.text
    unmatched_id = r.json()["payments"][1]["payment_id"]

    resigned = sign(secret, json.dumps(single).encode(), t=int(time.time()) + 1)  # a resend is signed again
    repeat = push(pay_url, "/v1/payments", "acme", secret, single, signature=resigned)
    assert repeat.status_code == 202 and repeat.json()["payment_id"] == first_id
    assert push(pay_url, "/v1/payments", "acme", secret, single, signature=sign("not-the-secret-0001", json.dumps(single).encode())).status_code == 401
    old = sign(secret, json.dumps(single).encode(), t=int(time.time()) - 600)  # a replay 10 minutes later
    assert push(pay_url, "/v1/payments", "acme", secret, single, signature=old).status_code == 401
    bad = push(pay_url, "/v1/payments/batch", "acme", secret,
               [payment("x-1", "cheque", 100, "r"), payment("x-2", "card", -5, "r")])
    assert bad.status_code == 422
    assert len(bad.json()["detail"]) >= 2

    rentflow("wait", "--timeout", "180")
    balances = {ref: rentflow("accounts", "show", ref, "--json")["balance_pence"]
                for ref in ("10000010", "10000028", "10000036")}
    assert balances == {"10000010": 25000 - 12500, "10000028": 2500 + 22000 - 11000, "10000036": -1000 + 20000 - 10000}
    shown = rentflow("accounts", "show", "10000010", "--json")
    receipt = [t for t in shown["transactions"] if t["amount_pence"] < 0]
    assert [(t["type"], t["amount_pence"], t["balance_after_pence"]) for t in receipt] == [("RSO", -12500, 12500)]

    suspense = rentflow("suspense", "list", "--json")
    assert [(s["payment_id"], s["amount_pence"], s["reference"]) for s in suspense] == [(unmatched_id, 5000, "RENT OCTOBER")]
    tasks = rentflow("tasks", "list", "--json")
    assert [(t["kind"], t["status"]) for t in tasks] == [("unmatched_payment", "open")]
    assert tasks[0]["payment_id"] == unmatched_id

    not_her = rentflow("suspense", "allocate", unmatched_id, "10000010", "--by", "asha", "--note", "x", check=False,
                       extra_env=as_asha)  # --by naming anyone but the token's user is refused
    assert not_her.returncode != 0 and "is not you" in not_her.stderr
    rentflow("suspense", "allocate", unmatched_id, "10000010", "--note", "tenant phoned", extra_env=as_asha)
    again = rentflow("suspense", "allocate", unmatched_id, "10000010", "--note", "again", check=False,
                     extra_env=as_asha)
    assert again.returncode != 0 and again.stderr.strip() and again.stdout == ""
    rentflow("wait", "--timeout", "180")
    assert rentflow("accounts", "show", "10000010", "--json")["balance_pence"] == 12500 - 5000
    assert rentflow("suspense", "list", "--json") == []
    assert [t["status"] for t in rentflow("tasks", "list", "--json")] == ["done"]

    kpi = rentflow("kpi", "--period", "month", "--as-of", "2026-10-31", "--format", "json")
    assert (kpi["period_start"], kpi["period_end"]) == ("2026-10-01", "2026-10-31")
    assert kpi["debit_pence"] == 67000
    assert kpi["collected_pence"] == 12500 + 11000 + 5000 + 10000  # the suspense receipt counted once
    assert kpi["rent_collected_pct_excl_arrears_bf"] == pytest.approx(57.46)  # 38500 / 67000
    assert kpi["suspense_count"] == 0 and kpi["suspense_pence"] == 0
    assert sum(kpi["collected_by_channel"].values()) == 38500
    table = rentflow("kpi", "--period", "month", "--as-of", "2026-10-31").stdout
    assert re.search(r"Rent and charges debited +£670\.00", table) and "57.46%" in table, table

    recon = rentflow("gl", "reconcile", "--period", "2026-10", "--json")
    assert recon["balanced"] is True
    assert recon["accounts_total_pence"] == recon["control_account_pence"] == 7500 + 13500 + 9000

    days = [day.isoformat() for day in sorted({started_on, london_today()})]
    dailies = [rentflow("gl", "daily", "--date", day, "--json") for day in days]
    assert all(daily["balanced"] for daily in dailies)
    assert sum(daily["journals_by_kind"].get("receipt", 0) for daily in dailies) >= 1
    assert any("DEBTORS_CONTROL" in rentflow("gl", "daily", "--date", day, "--format", "csv").stdout for day in days)

    # maker-checker through the CLI: a manager registered with `officers add` may approve, the
    # requester and a plain officer may not
    as_morgan = {"RENTFLOW_TOKEN": rentflow("officers", "add", "Morgan Lee", "--role", "manager", "--json")["token"]}
    request_id = rentflow("adjust", "request", "10000036", "--type", "write_off", "--amount-pence", "500",
                          "--reason", "uneconomical to pursue: small balance", "--json",
                          extra_env=as_asha)["request_id"]
    refused = rentflow("adjust", "approve", request_id, check=False, extra_env=as_asha)  # an officer, the requester
    assert refused.returncode != 0 and "403" in refused.stderr
    refused = rentflow("adjust", "approve", request_id, "--by", "Someone Else", check=False, extra_env=as_morgan)
    assert refused.returncode != 0 and "is not you" in refused.stderr
    approved = rentflow("adjust", "approve", request_id, "--json", extra_env=as_morgan)
    assert approved["balance_pence"] == 9000 - 500
    assert (approved["requested_by"], approved["approved_by"]) == ("Asha Patel", "Morgan Lee")
    trail = rentflow("audit", "list", "--account", "10000036", "--json")
    assert [(e["user"], e["action"]) for e in trail] == [("Asha Patel", "adjustment.requested"),
                                                         ("Morgan Lee", "adjustment.approved")]

    missing = rentflow("accounts", "show", "99999999", check=False)
    assert missing.returncode != 0 and "99999999" in missing.stderr or "404" in missing.stderr

    pids = [s["pid"] for s in up.runtime["services"].values()]
    assert up.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not (up.home / "runtime.json").exists()
