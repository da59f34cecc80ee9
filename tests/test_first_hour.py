"""The first hour with rentflow as a newcomer, an officer and a finance reader live it: the real
`rentflow` (and `./dev`) commands against one real `rentflow up`, their output read as a person
reads it."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from rentflow_cli.client import sign
from stack_support import runner

ROOT = Path(__file__).resolve().parent.parent
HEADER = "account_ref,tenant_name,property,patch,tenancy_start,tenancy_end,weekly_rent_pence,opening_balance_pence\n"
ACCOUNTS = HEADER + ("81000010,Credit Cat,1 E St,E1,06/04/2020,,£120.50,-£150.00\n"    # UK dates, pounds
                     "81000028,Owes Olly,2 E St,E1,2020-04-06,,12050,2000\n"
                     "81000036,Former Fay,3 E St,E1,6 Apr 2015,31/05/2026,110.00,40000\n")


@pytest.fixture(scope="module")
def rf(module_stack_env):
    return runner({**module_stack_env, "COLUMNS": "80"})


@pytest.fixture(scope="module")
def loaded(module_up, rf, tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    (folder / "accounts.csv").write_text(ACCOUNTS)
    assert rf("accounts", "import", str(folder / "accounts.csv"), "--json")["created"] == 3
    for who, args in [("eve", ("Eve Officer", "--patch", "E1")), ("max", ("Max Manager", "--role", "manager"))]:
        TOKENS[who] = {"RENTFLOW_TOKEN": rf("officers", "add", *args, "--json")["token"]}
    return folder


TOKENS: dict[str, dict[str, str]] = {}  # each user's RENTFLOW_TOKEN


def test_an_accounts_csv_whose_every_row_fails_names_each_rows_reason(loaded, rf, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "B1,,1 St,N,2020-13-01,,100,0\nB2,Bo,2 St,N,2020-04-06,,12.5.0,0\n")
    proc = rf("accounts", "import", str(bad), check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"{bad}:2: tenant_name: required",
                     f"{bad}:2: tenancy_start: not a date (e.g. 2020-04-06 or 06/04/2020): '2020-13-01'",
                     f"{bad}:3: weekly_rent_pence: not an amount: '12.5.0' (whole pence like 12050, or pounds like "
                     f"£120.50)",
                     f"rentflow: nothing imported: every row of {bad} has errors (3 errors in 2 rows)"]


def test_uk_dates_and_pounds_in_the_accounts_csv(loaded, rf):
    shown = rf("accounts", "show", "81000010", "--json")
    assert (shown["tenancy_start"], shown["weekly_rent_pence"], shown["balance_pence"]) == ("2020-04-06", 12050, -15000)
    assert rf("accounts", "show", "81000036", "--json")["tenancy_end"] == "2026-05-31"


def test_tasks_list_with_an_unknown_kind_is_an_error_naming_the_kinds(loaded, rf):
    proc = rf("tasks", "list", "--kind", "nonsense", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == ("rentflow: --kind must be one of unmatched_payment, dd_failure, mandate_change, "
                                   "ended_tenancy_payment, dd_return_unmatched, dd_claim_cancellation_unmatched, "
                                   "lump_unmatched, interest, outgoing_return_unmatched, lodgement_unmatched, "
                                   "benefit_recovery_unmatched, not 'nonsense'")


def test_a_transfer_says_what_moves_and_checks_the_source(loaded, rf):
    common = ("--to", "81000028", "--reason", "paid to the wrong account", "--by", "Eve Officer")
    eve, max_ = TOKENS["eve"], TOKENS["max"]  # --by naming the token's own user is fine
    old = rf("adjust", "request", "81000010", "--type", "transfer", "--amount-pence", "10000", *common, check=False,
             extra_env=eve)
    assert old.returncode == 1 and "--moves credit" in old.stderr and "£150.00 in credit" in old.stderr
    much = rf("adjust", "request", "81000010", "--type", "transfer", "--moves", "credit", "--amount-pence", "15001",
              *common, check=False, extra_env=eve)
    assert much.returncode == 1 and much.stderr.strip() == (
        "rentflow: ledger answered 409: cannot move £150.01 of credit from 81000010: it is £150.00 in credit")
    asked = rf("adjust", "request", "81000010", "--type", "transfer", "--moves", "credit", "--amount-pence", "10000",
               *common, extra_env=eve)
    request_id = asked.stdout.strip()  # stdout is the request id alone, for a shell variable
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)
    assert "transfer of £100.00 of credit from 81000010 to 81000028" in asked.stderr
    done = rf("adjust", "approve", request_id, "--by", "Max Manager", extra_env=max_)
    assert "balance now 81000010 -£50.00; 81000028 -£80.00" in done.stdout
    # the older form still works where it is unambiguous: debt from an account that owes
    owes = rf("adjust", "request", "81000036", "--type", "transfer", "--amount-pence", "1000", "--to", "81000028",
              "--reason", "r", "--by", "Eve Officer", "--json", extra_env=eve)
    assert (owes["moves"], owes["amount_pence"]) == ("debt", 1000)


def test_a_payment_after_the_tenancy_ended_is_posted_and_an_officer_gets_a_task(loaded, rf, module_up):
    secret = rf("providers", "add", "hour-card", "--json")["secret"]
    body = json.dumps({"provider_ref": "late-1", "channel": "card", "amount_pence": 2500, "currency": "GBP",
                       "paid_at": "2026-10-06T09:00:00+01:00", "reference": "81000036", "payer_name": "F Fay"}).encode()
    r = httpx.post(module_up.url("payments") + "/v1/payments", content=body, timeout=30, headers={
        "X-Provider-Id": "hour-card", "Content-Type": "application/json",
        "X-Signature": sign(secret, body)})
    assert r.status_code == 202, r.text
    rf("wait", "--timeout", "180")
    former = rf("accounts", "show", "81000036", "--json")
    assert former["transactions"][-1]["type"] == "RCP" and former["transactions"][-1]["amount_pence"] == -2500
    tasks = rf("tasks", "list", "--kind", "ended_tenancy_payment", "--json")
    assert [(t["account_ref"], t["assigned_to"], t["status"], t["payment_id"]) for t in tasks] == [
        ("81000036", "Eve Officer", "open", r.json()["payment_id"])]
    assert "tenancy ended on 2026-05-31" in tasks[0]["reason"]
    table = rf("tasks", "list", "--account", "81000036").stdout
    assert max(len(line) for line in table.splitlines()) <= 80 and "task_id" in table


def test_the_kpi_table_is_in_pounds_and_fits_80_columns(loaded, rf):
    rf("ledger", "run-debits", "--through", "2026-10-31")
    rf("wait", "--timeout", "180")
    raw = rf("kpi", "--period", "month", "--as-of", "2026-10-31", "--format", "json")
    shown = rf("kpi", "--period", "month", "--as-of", "2026-10-31").stdout
    dbr = raw["debit_by_type"]["DBR"]
    assert re.search(rf"basic rent \(DBR\) +£{dbr // 100:,}\.{dbr % 100:02d}", shown), shown
    assert str(dbr) not in shown  # never raw pence among £ figures
    assert re.search(r"Rent collected, excluding arrears b/f +\d+\.\d\d%", shown)
    assert all(len(line) <= 80 for line in shown.splitlines() if not line.startswith("snapshot "))


def test_redirected_progress_is_whole_lines(loaded, rf, tmp_path):
    big = tmp_path / "big.json"  # more than 1 MB, so the upload reports progress
    items = [{"provider_ref": f"big-{n}", "channel": "cash", "amount_pence": 100, "currency": "GBP",
              "paid_at": "2026-10-07T12:00:00+01:00", "reference": "UNKNOWN", "payer_name": "x" * 100}
             for n in range(6000)]
    big.write_text(json.dumps(items))
    assert big.stat().st_size > 1 << 20
    proc = rf("payments", "import", str(big))
    assert "\r" not in proc.stderr
    assert re.search(r"^sending big\.json: \d+% of [\d,]+ bytes$", proc.stderr, re.M), proc.stderr
    assert proc.stdout.startswith("import ") and "accepted 6000" in proc.stdout


def test_dev_runs_rentflow_in_the_callers_folder(loaded, module_stack_env, tmp_path):
    env = {k: v for k, v in module_stack_env.items() if k != "VIRTUAL_ENV"}
    (tmp_path / "accounts.csv").write_text(HEADER + "82000010,Dee,1 F St,E1,2020-04-06,,12000,0\n")
    proc = subprocess.run([str(ROOT / "dev"), "rentflow", "accounts", "import", "accounts.csv"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "created 1," in proc.stdout, proc.stderr
    proc = subprocess.run([str(ROOT / "dev"), "rentflow", "kpi", "--format", "xlsx", "--as-of", "2026-10-31"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.glob("kpi-month-*.xlsx")) and not list(ROOT.glob("kpi-month-*.xlsx"))  # landed here
    proc = subprocess.run([str(ROOT / "dev"), "test", "--collect-only", "-q", "cli/tests/test_sample.py"],
                          cwd=tmp_path, env={**env, "PYTEST_ADDOPTS": ""}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "test_check_digit_is_weighted_modulus_10" in proc.stdout, proc.stdout


def test_providers_are_added_rotated_revoked_and_listed_without_secrets(loaded, rf, module_up):
    """The real `rentflow providers` commands: a secret is printed once; rotation keeps the old one for
    the rollover window; revocation ends both; list never shows one; pushes prove each step."""
    url = module_up.url("payments") + "/v1/payments"

    def push(ref: str, secret: str, form=sign, provider: str = "rot-card") -> int:
        body = json.dumps({"provider_ref": ref, "channel": "card", "amount_pence": 100, "currency": "GBP",
                           "paid_at": "2026-10-06T09:00:00+01:00", "reference": "81000028"}).encode()
        return httpx.post(url, content=body, timeout=30, headers={
            "X-Provider-Id": provider, "Content-Type": "application/json", "X-Signature": form(secret, body)}
        ).status_code

    added = rf("providers", "add", "rot-card", "--json")
    first = added["secret"]
    assert added["legacy_signature"] is False and push("rot-1", first) == 202
    text = rf("providers", "rotate", "rot-card").stdout
    second = re.search(r"^secret (\w+)$", text, re.M).group(1)
    assert second != first and "previous secret is accepted until" in text
    assert push("rot-2", first) == 202 and push("rot-3", second) == 202  # the rollover window
    listed = rf("providers", "list", "--json")
    mine = next(p for p in listed if p["provider_id"] == "rot-card")
    assert mine["status"] == "active" and mine["previous_secret_valid_until"]
    assert first not in json.dumps(listed) and second not in json.dumps(listed)
    table = rf("providers", "list").stdout
    assert "rot-card" in table and second not in table and max(len(line) for line in table.splitlines()) <= 80
    assert "revoked" in rf("providers", "revoke", "rot-card").stdout
    assert push("rot-4", first) == 401 and push("rot-5", second) == 401
    assert next(p for p in rf("providers", "list", "--json") if p["provider_id"] == "rot-card")["status"] == "revoked"
    gone = rf("providers", "rotate", "nobody-here", check=False)
    assert gone.returncode == 1 and "unknown provider" in gone.stderr
    # the old sha256= form only for a provider registered with --legacy-signature
    legacy = rf("providers", "add", "old-card", "--legacy-signature", "--secret", "old-card-secret-0001", "--json")
    assert legacy["legacy_signature"] is True

    def old_form(secret: str, body: bytes) -> str:
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    assert push("old-1", "old-card-secret-0001", old_form, "old-card") == 202
    assert push("rot-6", first, old_form, "rot-card") == 401  # not registered with the flag (and revoked)
