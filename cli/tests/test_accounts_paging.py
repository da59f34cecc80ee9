"""`rentflow accounts list` reads the accounts a page at a time: an account imported between two pages
must not make the next page repeat one already listed."""
from __future__ import annotations

import rentflow_cli.main as cli


class Ledger:
    """GET /v1/accounts over accounts in reference order (limit, offset, after), an account that sorts
    first being imported right after the first page is answered."""

    def __init__(self) -> None:
        self.refs = ["R1", "R2", "R3", "R4", "R5"]
        self.pages = 0

    def get(self, service: str, path: str, params: dict) -> dict:
        assert (service, path) == ("ledger", "/v1/accounts")
        refs = [r for r in self.refs if "after" not in params or r > params["after"]]
        page = refs[params.get("offset", 0):][:params["limit"]]
        self.pages += 1
        if self.pages == 1:
            self.refs = sorted(self.refs + ["R0"])
        return {"accounts": [{"account_ref": r, "balance_pence": 100} for r in page], "total": len(self.refs)}


def test_an_account_imported_between_two_pages_repeats_none(monkeypatch, capsys):
    monkeypatch.setattr(cli, "ACCOUNTS_PAGE", 2)
    monkeypatch.setattr(cli, "client", Ledger)
    cli.accounts_list(arrears=False, credit=False, current=False, limit=100, ids=True, json_out=False)
    listed = capsys.readouterr().out.split()
    assert listed == ["R1", "R2", "R3", "R4", "R5"]  # R0 came after its place had been read
