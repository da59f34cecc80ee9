"""`rentflow providers add|rotate|revoke|list`: payment providers of the push API and their signing
secrets (services/payments). A secret is printed once, when it is made; `list` never shows one."""
from __future__ import annotations

from typing import Any, Optional

import typer

from rentflow_cli.output import Col

SECRET_HELP = "the signing secret to use, 16 to 512 printable characters (generated when not given)"


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, out, emit_json, table = ctx["client"], ctx["out"], ctx["emit_json"], ctx["table"]
    providers_app = ctx["typer_apps"]["providers"]
    json_opt = typer.Option(False, "--json", help="print one JSON document on stdout")

    @providers_app.command("add")
    def providers_add(name: str = typer.Argument(..., metavar="NAME", help="the provider id (X-Provider-Id)"),
                      secret: Optional[str] = typer.Option(None, "--secret", metavar="SECRET", help=SECRET_HELP),
                      legacy_signature: bool = typer.Option(
                          False, "--legacy-signature",
                          help="also accept the old `X-Signature: sha256=HEX` form, which has no replay protection "
                               "(for a provider that cannot send t=...,v1=... yet)"),
                      json_out: bool = json_opt) -> None:
        """Register a payment provider and print its signing secret (shown this once)."""
        result = client().post("payments", "/v1/providers", json={
            "name": name, "secret": secret, "legacy_signature": legacy_signature})
        if json_out:
            return emit_json(result)
        legacy = "\nlegacy sha256= signatures accepted" if result.get("legacy_signature") else ""
        out.print(f"provider {result['provider_id']}\nsecret {result['secret']}{legacy}", highlight=False)

    @providers_app.command("rotate")
    def providers_rotate(name: str = typer.Argument(..., metavar="NAME", help="the provider id"),
                         secret: Optional[str] = typer.Option(None, "--secret", metavar="SECRET", help=SECRET_HELP),
                         json_out: bool = json_opt) -> None:
        """A new signing secret for the provider; the previous one is still accepted for the rollover window
        (RENTFLOW_SECRET_ROLLOVER_HOURS, 24 by default) so the provider can switch without refused requests."""
        result = client().post("payments", f"/v1/providers/{name}/rotate", json={"secret": secret})
        if json_out:
            return emit_json(result)
        until = result.get("previous_secret_valid_until")
        note = f"the previous secret is accepted until {until}" if until else "the previous secret is no longer accepted"
        out.print(f"provider {result['provider_id']}\nsecret {result['secret']}\n{note}", highlight=False)

    @providers_app.command("revoke")
    def providers_revoke(name: str = typer.Argument(..., metavar="NAME", help="the provider id"),
                         json_out: bool = json_opt) -> None:
        """Stop accepting every secret of the provider at once (`rotate` later issues a new one)."""
        result = client().post("payments", f"/v1/providers/{name}/revoke")
        if json_out:
            return emit_json(result)
        out.print(f"provider {result['provider_id']} revoked: none of its secrets is accepted", highlight=False)

    @providers_app.command("list")
    def providers_list(json_out: bool = json_opt) -> None:
        """The providers: status, signature form, when made, rotated, revoked (never a secret)."""
        found = client().get("payments", "/v1/providers")["providers"]
        if json_out:
            return emit_json(found)
        table(f"providers: {len(found)}",
              [Col("provider"), Col("status"), Col("signature", drop=2), Col("created", drop=3),
               Col("rotated", drop=1), Col("previous secret until", drop=4)],
              [[p["provider_id"], p["status"], "sha256= or t,v1" if p["legacy_signature"] else "t,v1",
                (p.get("created_at") or "")[:19], (p.get("rotated_at") or "")[:19],
                (p.get("previous_secret_valid_until") or "")[:19]] for p in found])
