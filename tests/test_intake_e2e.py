"""End to end through the CLI, as an operator: `rentflow up`, then real files of several formats
through `rentflow payments import FILE --format auto --json`, `rentflow wait` until every consumer
group (notifications included: it consumes ledger.mandates.v1 and ledger.dd-failures.v1, as
CONSUMER_GROUPS says) has taken everything in, then balances with `rentflow accounts show`."""
from __future__ import annotations

import datetime as dt

import pytest

from rentflow_payments import samples as s

ACCOUNTS = """\
account_ref,tenant_name,property,patch,tenancy_start,weekly_rent_pence,opening_balance_pence,payment_method,dd_reference
40000010,Ann Dee,1 D St,N1,2026-04-06,12000,0,dd,DD40000010
40000028,Bob Ess,2 D St,N1,2026-04-06,12000,0,so,
40000036,Cat Tee,3 D St,N1,2026-04-06,12000,0,cash,
40000044,Dan Vee,4 D St,N1,2026-04-06,12000,0,card,
"""
D = dt.date(2026, 10, 1)


@pytest.mark.timeout(600)
def test_files_of_every_kind_through_the_cli(up, rentflow, tmp_path):
    (tmp_path / "accounts.csv").write_text(ACCOUNTS)
    assert rentflow("accounts", "import", str(tmp_path / "accounts.csv"), "--json")["created"] == 4
    files = {
        "collections.s18": s.bacs18([s.S18("17", 12000, "DD40000010"), s.S18("0N", 0, "DD40000010")], day=D),
        "arudd.xml": s.arudd([s.Returned("DD40000010", 12000, D, "0")], reported=D + dt.timedelta(days=3)),
        "statement.xml": s.camt053([
            s.Entry("E1", sub_family="STDO", txs=[s.Tx(11000, "40000028", "BOB ESS", "E2E-B")]),
            s.Entry("E2", side="DBIT", txs=[s.Tx(500, "FEES")])]),
        "paypoint.csv": s.cash_csv([{"transaction_id": "PP-9", "paid_at": "2026-10-06T12:00:00+01:00",
                                     "amount": "25.00", "reference": "40000036", "outlet": "SHOP"}]),
        "govuk.json": s.govuk_replay([s.govuk_event("pay-d", "card_payment_succeeded", 9000, "40000044"),
                                      s.govuk_event("pay-d", "card_payment_refunded", 9000, "40000044", refunded=1000)]),
    }
    summaries = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        summaries[name] = rentflow("payments", "import", str(tmp_path / name), "--format", "auto", "--json")
        if name == "collections.s18":  # the return must find the collection posted first
            rentflow("wait", "--timeout", "180")
            assert rentflow("accounts", "show", "40000010", "--json")["balance_pence"] == -12000
    assert {n: (r["format"], r["accepted"], r["rejected"]) for n, r in summaries.items()} == {
        "collections.s18": ("bacs18", 2, 0), "arudd.xml": ("arudd", 1, 0), "statement.xml": ("camt053", 1, 0),
        "paypoint.csv": ("csv", 1, 0), "govuk.json": ("govuk-pay", 2, 0)}
    assert summaries["statement.xml"]["skipped"] == 1
    again = rentflow("payments", "import", str(tmp_path / "statement.xml"), "--json")
    assert (again["accepted"], again["duplicates"], again["reimport"]) == (0, 1, True)
    broken = tmp_path / "broken.xml"
    broken.write_bytes(files["statement.xml"][:-30])
    refused = rentflow("payments", "import", str(broken), check=False)
    assert refused.returncode != 0 and "not a well-formed camt.053" in refused.stderr and refused.stdout == ""

    rentflow("wait", "--timeout", "180")
    shown = {ref: rentflow("accounts", "show", ref, "--json") for ref in ("40000010", "40000028", "40000036", "40000044")}
    assert {ref: a["balance_pence"] for ref, a in shown.items()} == {
        "40000010": 0, "40000028": -11000, "40000036": -2500, "40000044": -8000}
    assert [t["type"] for t in shown["40000010"]["transactions"]] == ["RDD", "RDN"]
    assert [t["type"] for t in shown["40000044"]["transactions"]] == ["RCP", "REF"]
    assert [t["type"] for t in shown["40000028"]["transactions"]] == ["RSO"]
    assert rentflow("gl", "reconcile", "--period", "2026-10", "--json")["balanced"] is True

