"""The sample landlord is what the demo promises: 5,000 homes, about £123 a week, about a
third by Direct Debit, a few hundred in arrears, valid push bodies, and payments that cover the
rent weeks the demo charges."""
import csv
import datetime as dt
import io
import re

from rentflow_cli import sample


def test_check_digit_is_weighted_modulus_10():
    # 1000001: 1*8 + 0*7 + 0*6 + 0*5 + 0*4 + 0*3 + 1*2 = 10 -> 10 - 0 = 10 -> 0
    assert sample.check_digit("1000001") == "0"
    # 1000002: 8 + 4 = 12 -> 10 - 2 = 8
    assert sample.check_digit("1000002") == "8"
    assert sample.rent_ref(2) == "10000028"


def test_sample_landlord_shape():
    accs = sample.accounts(5000, seed=2026)
    current = [a for a in accs if a.tenancy_end is None]
    assert len(accs) == 5000 and len({a.ref for a in accs}) == 5000
    assert 120_00 <= sum(a.weekly_total for a in accs) / len(accs) <= 126_00
    assert 0.30 <= sum(a.method == "dd" for a in current) / len(current) <= 0.40
    assert 200 <= sum(a.opening_balance > 0 for a in current) <= 500
    assert sample.accounts(50, seed=7) == sample.accounts(50, seed=7)


def test_accounts_csv_has_contract_columns():
    rows = list(csv.DictReader(io.StringIO(sample.accounts_csv(sample.accounts(20)))))
    assert len(rows) == 20
    for column in ("account_ref", "tenant_name", "property", "patch", "tenancy_start", "weekly_rent_pence",
                   "opening_balance_pence"):
        assert all(r[column] != "" for r in rows), column


def test_october_payments_are_valid_push_bodies_from_every_channel():
    accs = sample.accounts(600)
    payments = sample.october_payments(accs)
    assert {p.body["channel"] for p in payments} >= {"card", "bank_transfer", "direct_debit", "standing_order", "cash"}
    assert len({(p.provider, p.body["provider_ref"]) for p in payments}) == len(payments)
    assert all(isinstance(p.body["amount_pence"], int) and p.body["amount_pence"] > 0 for p in payments)
    assert [p.body["paid_at"] for p in payments] == sorted(p.body["paid_at"] for p in payments)
    first, last = sample.RENT_WEEKS[0].isoformat(), sample.MONTH_END.isoformat()
    assert all(first <= p.body["paid_at"][:10] <= last for p in payments)


def test_format_json_is_an_alias_of_json_except_where_format_is_the_commands_own():
    from rentflow_cli.main import json_format_alias

    assert json_format_alias(["accounts", "show", "X", "--format", "json"]) == ["accounts", "show", "X", "--json"]
    assert json_format_alias(["tasks", "list", "--format=json"]) == ["tasks", "list", "--json"]
    assert json_format_alias(["kpi", "--format", "json"]) == ["kpi", "--format", "json"]
    assert json_format_alias(["payments", "import", "f", "--format", "json"]) == ["payments", "import", "f", "--format", "json"]


def test_the_demos_channel_files_read_back_through_intakes_own_parsers():
    """Every payment of the month is in exactly one place (pushed or in a file), and each file
    parses, item for item, to the payments it was made from."""
    from rentflow_payments.domain.formats import FORMATS, resolve

    accs = sample.accounts(600, seed=3)
    payments = sample.october_payments(accs, seed=3)
    pushed, files = sample.october_files(payments, seed=3)
    by_channel = {}
    for p in payments:
        by_channel.setdefault(p.body["channel"], []).append(p.body["amount_pence"])
    assert {p.body["channel"] for p in pushed} <= {"card", "housing_benefit", "universal_credit"}
    parsed_total = {}
    for f in files:
        fmt = resolve("auto", f.content[:4096])
        assert fmt.name == FORMATS[f.format].name, f.label  # --format auto recognises each
        items = list(fmt.parse(io.BytesIO(f.content)))
        errors = [i for i in items if i.error]
        assert not errors, (f.label, errors[:3])
        kept = [i for i in items if i.type in ("payment", "return")]
        assert len(kept) == f.items, f.label
        for i in kept:
            if i.type == "payment":
                parsed_total[i.value["channel"]] = parsed_total.get(i.value["channel"], 0) + i.value["amount_pence"]
    for channel in ("direct_debit", "standing_order", "bank_transfer", "cash"):
        assert parsed_total[channel] == sum(by_channel[channel]), channel
    assert len(pushed) + sum(f.items for f in files if f.format != "arudd") == len(payments)
    assert any(f.format == "arudd" for f in files)


def test_the_payments_cover_the_weeks_charged_so_about_nine_percent_end_in_arrears():
    """The balance each current account would have at the month's end if every payment found its
    account: opening + the weeks the debit run charges - what was paid. Only the accounts that
    started behind stay behind (the demo adds the unpaid DDs and suspense: about 9% in all)."""
    accs = sample.accounts(5000, seed=2026)
    assert sample.RENT_WEEKS[0] == sample.BALANCE_DATE + dt.timedelta(days=1)  # the week of 28 September is charged
    assert sample.RENT_WEEKS[-1] <= sample.MONTH_END < sample.RENT_WEEKS[-1] + dt.timedelta(days=7)
    paid: dict[str, int] = {}
    for p in sample.october_payments(accs, seed=2026):
        found = re.search(r"\d{4}[ -]?\d{4}", p.body["reference"])  # as typed, inside free text, after RF
        if found:  # a transposed one counts as unpaid here (the ledger's ladder finds it); a missing one is
            ref = re.sub(r"\D", "", found.group(0))  # unpaid in the demo too (suspense)
            paid[ref] = paid.get(ref, 0) + p.body["amount_pence"]
    current = [a for a in accs if a.tenancy_end is None]
    behind = [a for a in current
              if a.opening_balance + a.weekly_total * sum(m >= a.tenancy_start for m in sample.RENT_WEEKS)
              - paid.get(a.ref, 0) > 0]
    started_behind = [a for a in current if a.opening_balance > 0]
    assert 0.05 <= len(behind) / len(current) <= 0.10
    assert len(behind) <= len(started_behind) + len(current) // 40  # payers who started square end square


def test_weekly_payers_pay_the_first_week_in_it_and_monthly_payers_start_a_week_ahead():
    accs = [a for a in sample.accounts(600, seed=4) if a.tenancy_end is None and a.opening_balance == 0]
    so = next(a for a in accs if a.method == "so")
    paid = [p.body for p in sample.october_payments(accs, seed=4) if p.body["reference"].replace(" ", "")
            .replace("-", "").upper() == so.ref]
    assert [b["paid_at"][:10] for b in paid] == [m.isoformat() for m in sample.RENT_WEEKS]
    assert sum(b["amount_pence"] for b in paid) == 5 * so.weekly_total
    dd = [a for a in sample.accounts(600, seed=4) if a.method == "dd" and a.tenancy_end is None
          and a.tenancy_start < sample.BALANCE_DATE]
    assert all(a.opening_balance <= -a.weekly_total for a in dd if a.opening_balance <= 0)


def test_rentflow_sample_writes_the_accounts_and_a_month_of_files_of_every_channel(tmp_path):
    """The real command (typer's runner): every file is one intake recognises with --format auto
    and reads without an error; together they are the demo's month, item for item."""
    from typer.testing import CliRunner

    from rentflow_cli.main import app
    from rentflow_payments.domain.formats import resolve

    result = CliRunner().invoke(app, ["sample", "--output", str(tmp_path / "s"), "--accounts", "600", "--seed", "3"])
    assert result.exit_code == 0, result.output
    accounts = list(csv.DictReader(io.StringIO((tmp_path / "s" / "accounts.csv").read_text())))
    assert len(accounts) == 600
    formats, channels, items = {}, set(), 0
    for path in sorted((tmp_path / "s").glob("*/*")):
        content = path.read_bytes()
        fmt = resolve("auto", content[:4096])
        parsed = list(fmt.parse(io.BytesIO(content)))
        assert not [p for p in parsed if p.error], path
        formats[path.relative_to(tmp_path / "s").as_posix()] = fmt.name
        for p in parsed:
            if p.type == "payment":
                channels.add(p.value["channel"])
                items += 1
    assert {f.split("/")[0] for f in formats} == {"payments", "returns"}
    assert set(formats.values()) >= {"bacs18", "arudd", "camt053", "csv", "json"}
    assert all(name.startswith("returns/") == (fmt == "arudd") for name, fmt in formats.items())
    assert channels == {"card", "bank_transfer", "direct_debit", "standing_order", "cash", "housing_benefit",
                        "universal_credit"}
    assert items == len(sample.october_payments(sample.accounts(600, seed=3), seed=3))
    assert "payments/statement-camt053.xml" in result.output
