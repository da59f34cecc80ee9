"""The sample landlord is what the demo promises: 5,000 homes, about £123 a week, about a
third by Direct Debit, a few hundred in arrears, valid push bodies."""
import csv
import io

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
    assert all(p.body["paid_at"].startswith("2026-10-") for p in payments)


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
