"""The control total across services through the real commands: after pushes and a file, what
intake accepted equals what the ledger posted or holds in suspense, per day and channel; a
payment the ledger lost or took twice makes `payments reconcile` name it and `rentflow wait` fail."""
from __future__ import annotations

import json

import asyncpg
import httpx
import pytest

from rentflow_cli.client import signed_headers

from rentflow_common.db import plain_url

ACCOUNTS_CSV = """\
account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,weekly_charges_pence,opening_balance_pence,payment_method,dd_reference,balance_date
10000010,Alex Smith,1 Oak Road,N1,2015-01-05,12000,500,0,so,,2026-10-04
10000028,Sam Jones,2 Oak Road,N2,2016-03-07,11000,0,2500,dd,RF10000028,2026-10-04
"""


def push(url: str, secret: str, payload: object) -> httpx.Response:
    body = json.dumps(payload).encode()
    return httpx.post(url + "/v1/payments/batch", content=body, timeout=30, headers=signed_headers("acme", secret, body))


def pay(ref: str, channel: str, amount: int, reference: str, paid_at: str) -> dict:
    return {"provider_ref": ref, "channel": channel, "amount_pence": amount, "currency": "GBP",
            "paid_at": paid_at, "reference": reference}


@pytest.mark.timeout(600)
async def test_control_total_balances_and_names_what_the_ledger_lost_or_doubled(up, rentflow, stack_env, tmp_path):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS_CSV)
    rentflow("accounts", "import", str(tmp_path / "accounts.csv"), "--json")
    secret = rentflow("providers", "add", "acme", "--json")["secret"]
    batch = [pay("so-1", "standing_order", 12500, "10000010", "2026-10-05T08:00:00+01:00"),
             pay("dd-1", "direct_debit", 11000, "RF10000028", "2026-10-05T23:30:00+01:00"),  # 5 Oct in London
             pay("bt-1", "bank_transfer", 5000, "RENT OCTOBER", "2026-10-06T00:30:00+01:00"),  # suspense, 6 Oct
             pay("card-1", "card", 2000, "10000010", "2026-10-05T23:30:00Z")]  # 6 Oct 00:30 in London
    r = push(up.url("payments"), secret, batch)
    assert r.status_code == 202, r.text
    ids = {p["provider_ref"]: p["payment_id"] for p in
           ({"provider_ref": b["provider_ref"], **o} for b, o in zip(batch, r.json()["payments"]))}
    rentflow("wait", "--timeout", "120")

    ok = rentflow("payments", "reconcile", "--json")
    assert ok["balanced"] is True, ok
    assert (ok["accepted_count"], ok["accepted_pence"], ok["ledger_count"], ok["ledger_pence"]) == (4, 30500, 4, 30500)
    assert ok["missing"] == [] and ok["doubled"] == []
    assert (ok["reporting_balanced"], ok["reporting_count"]) == (True, 4)  # reporting counted each one once
    assert [g["reporting_count"] for g in ok["groups"]] == [1, 1, 1, 1]
    assert [(g["day"], g["channel"], g["accepted_count"], g["ledger_pence"]) for g in ok["groups"]] == [
        ("2026-10-05", "direct_debit", 1, 11000), ("2026-10-05", "standing_order", 1, 12500),
        ("2026-10-06", "bank_transfer", 1, 5000), ("2026-10-06", "card", 1, 2000)]
    day = rentflow("payments", "reconcile", "--date", "2026-10-06", "--json")
    assert (day["balanced"], day["accepted_count"], day["ledger_pence"]) == (True, 2, 7000)

    # reporting counts a card payment twice, then the ledger loses one posting and takes another twice
    conn = await asyncpg.connect(plain_url(stack_env["DATABASE_URL"]))
    try:
        await conn.execute("update reporting.daily_totals set count = count + 1 where metric = 'collected' "
                           "and key = 'card'")
        off = rentflow("payments", "reconcile", "--json", check=False)
        assert off.returncode == 1 and "reporting counted 5" in off.stderr, off.stderr
        doc = json.loads(off.stdout)
        assert (doc["balanced"], doc["reporting_balanced"]) == (True, False)
        await conn.execute("update reporting.daily_totals set count = count - 1 where metric = 'collected' "
                           "and key = 'card'")
        await conn.execute("delete from ledger.transactions where payment_id = $1", ids["so-1"])
        await conn.execute(
            "insert into ledger.suspense select payment_id, 'acme', 'card-1', 2000, 'card', '10000010', null, "
            "now(), now(), '2026-10-06', '2026-10', 'test', now() from ledger.transactions where payment_id = $1",
            ids["card-1"])
    finally:
        await conn.close()
    bad = rentflow("payments", "reconcile", "--json", check=False)
    assert bad.returncode == 1 and "does not balance" in bad.stderr
    doc = json.loads(bad.stdout)
    assert doc["balanced"] is False and doc["missing"] == [ids["so-1"]] and doc["doubled"] == [ids["card-1"]]
    assert (doc["accepted_count"], doc["ledger_count"]) == (4, 4)  # equal counts: only the ids tell
    by = {(g["day"], g["channel"]): g for g in doc["groups"]}
    assert by[("2026-10-05", "standing_order")]["balanced"] is False
    assert by[("2026-10-05", "direct_debit")]["balanced"] is True
    waited = rentflow("wait", "--timeout", "60", check=False)
    assert waited.returncode == 1 and "control total does not balance" in waited.stderr, waited.stderr
    assert "1 missing" in waited.stderr and "1 doubled" in waited.stderr
