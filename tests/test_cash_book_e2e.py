"""Issue 11 end to end, as finance would run it: `rentflow up` (four processes), the day's files
through `rentflow payments import FILE --json` — a Standard 18 collection, a council Housing Benefit
schedule, DWP's Universal Credit schedule, and the bank statement that carries their lump sums
besides a PayPoint settlement with no cash file and bank interest — then what the ledger,
notifications and reporting make of them: every lump counted once (by its detail), nothing in
suspense, a finance task for what has no detail, the KPI's collected figure once per pound."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from rentflow_payments import samples as s

FIXTURES = Path(__file__).resolve().parent.parent / "services" / "payments" / "tests" / "fixtures"
ACCOUNTS = """\
account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,payment_method,dd_reference
10000010,Ann,1 Oak Road,N1,2020-04-06,12000,0,dd,DDANN01
10000028,Bob,2 Oak Road,N1,2020-04-06,11000,0,dd,DDBOB01
10000036,Cat,3 Oak Road,N1,2020-04-06,9500,0,hb,
10000044,Dan,4 Oak Road,N1,2020-04-06,12000,0,uc,
10000051,Eve,5 Oak Road,N1,2020-04-06,12000,0,so,
"""
D = dt.date(2026, 10, 5)
HB = ("Claim Ref,Rent Ref,Tenant Name,Period From,Period To,Amount,Posting Date\n"
      "HB0041277,10000036,CAT,07/09/2026,04/10/2026,95.00,05/10/2026\n")
UC = ("Payment Date,Payment Reference,Tenancy Reference,Claimant Name,Payment Type,Amount\n"
      "06/10/2026,UC2610060001,10000044,DAN,Managed Payment to Landlord,412.50\n"
      "06/10/2026,UC2610060001,10000044,DAN,Third Party Deduction - Rent Arrears,22.90\n")


@pytest.mark.timeout(900)
def test_lump_sums_counted_once_through_the_running_stack(up, rentflow, tmp_path):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    assert rentflow("accounts", "import", str(tmp_path / "accounts.csv"), "--json")["created"] == 5

    files = {
        "collection.std18": s.bacs18([s.S18("17", 12000, "DDANN01"), s.S18("17", 11000, "DDBOB01")], day=D),
        "hb.csv": HB.encode(),
        "uc.csv": UC.encode(),
        "statement.xml": s.camt053([
            s.Entry("DD-TOTAL", value_date=D, family="IDDT", sub_family="ESDD", amount_pence=23000,
                    narrative="BACS DD COLLECTION 000001"),
            s.Entry("UC-1", value_date=dt.date(2026, 10, 6), txs=[s.Tx(43540, "DWP UC APA UC2610060001", "DWP")]),
            s.Entry("PP-1", value_date=D, txs=[s.Tx(7777, "PAYPOINT SETTLEMENT 0410", "PAYPOINT")]),
            s.Entry("INT-1", value_date=D, family="RCDT", sub_family="INTR", txs=[s.Tx(12, "GROSS INTEREST")]),
            s.Entry("SO-1", value_date=D, sub_family="STDO", txs=[s.Tx(5000, "10000051", "EVE")]),
        ], stmt_id="S-2026-10-05"),
    }
    formats = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        summary = rentflow("payments", "import", str(tmp_path / name), "--json")
        assert summary["rejected"] == 0, summary
        formats[name] = (summary["format"], summary["accepted"])
    assert formats == {"collection.std18": ("bacs18", 2), "hb.csv": ("hb-schedule", 1), "uc.csv": ("uc-schedule", 2),
                       "statement.xml": ("camt053", 5)}
    rentflow("wait", "--timeout", "300")

    balances = {ref: rentflow("accounts", "show", ref, "--json")["balance_pence"]
                for ref in ("10000010", "10000028", "10000036", "10000044", "10000051")}
    assert balances == {"10000010": -12000, "10000028": -11000, "10000036": -9500, "10000044": -43540,
                        "10000051": -5000}
    assert rentflow("suspense", "list", "--json") == []  # no lump is rent in suspense

    tasks = rentflow("tasks", "list", "--json")
    finance = sorted((t["kind"], t["assigned_to"]) for t in tasks if t["assigned_to"] == "finance")
    assert finance == [("interest", "finance"), ("lump_unmatched", "finance")]
    [paypoint] = [t for t in tasks if t["kind"] == "lump_unmatched"]
    assert "£77.77" in paypoint["reason"] and "cash settlement" in paypoint["reason"]
    # the cash book, as finance reads it: every lump with how it was matched, and the open items
    book = rentflow("gl", "cashbook", "--json")
    assert sorted((x["kind"], x["status"], x["amount_pence"]) for x in book["lumps"]) == [
        ("cash_settlement", "unmatched", 7777), ("dd_collection", "matched", 23000), ("interest", "no_detail", 12),
        ("uc_managed_payment", "matched", 43540)]
    assert sorted((x["kind"], x["amount_pence"]) for x in book["items"]) == [("interest", 12), ("lump_unmatched", 7777)]
    table = rentflow("gl", "cashbook", "--lumps", "open").stdout
    assert "statement lumps: 1, £77.77" in table and "finance items (open): 2, £77.89" in table, table

    kpi = rentflow("kpi", "--period", "month", "--as-of", "2026-10-31", "--format", "json")
    # each pound once: the detail, never its lump again
    assert kpi["collected_pence"] == 23000 + 9500 + 43540 + 5000
    assert kpi["collected_by_channel"] == {"direct_debit": 23000, "housing_benefit": 9500,
                                           "universal_credit": 43540, "standing_order": 5000}
    assert kpi["suspense_count"] == 0
    recon = rentflow("gl", "reconcile", "--period", "2026-10", "--json")
    assert recon["balanced"] is True
