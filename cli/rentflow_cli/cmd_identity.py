"""Users and the audit trail: `users add/list/disable/token/bootstrap-admin`, `audit list`."""
from __future__ import annotations

import os
from typing import Any, List, Optional

import typer

from rentflow_cli.output import Col

JSON = typer.Option(False, "--json", help="print one JSON document on stdout")
ROLES = ("officer", "manager", "finance", "ops", "admin")
SERVICES = ("payments", "ledger", "notifications", "reporting")


def register(app: typer.Typer, ctx: dict[str, Any]) -> None:
    client, emit_json, out, err = ctx["client"], ctx["emit_json"], ctx["out"], ctx["err"]
    CommandError, table = ctx["CommandError"], ctx["table"]
    users_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                            help="who may call rentflow: users, their roles and API tokens")
    audit_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                            help="the append-only audit trail of every service")
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")

    def check_roles(roles: list[str]) -> None:
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise CommandError(f"--role must be one of {', '.join(ROLES)}, not {bad[0]!r}")

    def show_token(user: dict[str, Any], json_out: bool) -> None:
        if json_out:
            return emit_json({"user": user["user"], "roles": user["roles"], "token": user["token"]})
        err.print(f"{user['user']} ({', '.join(user['roles'])}): their API token, shown once (give it to them; "
                  "they set RENTFLOW_TOKEN to it):", highlight=False)
        out.print(user["token"], highlight=False, soft_wrap=True)

    @users_app.command("add")
    def users_add(name: str = typer.Argument(..., metavar="NAME", help="the user's name (who acts, in the audit)"),
                  role: List[str] = typer.Option(..., "--role", metavar="ROLE",
                                                 help=f"{', '.join(ROLES)} (repeat for more)"),
                  patch: List[str] = typer.Option([], "--patch", metavar="PATCH",
                                                  help="an officer's patch (repeat for more)"),
                  approval_limit_pence: Optional[int] = typer.Option(
                      None, "--approval-limit-pence", metavar="N", min=0, max=10**11,
                      help="a manager's largest approvable amount in pence (every adjustment type)"),
                  limit: List[str] = typer.Option([], "--limit", metavar="TYPE=PENCE",
                                                  help="a limit for one type: adjustment, refund, write_off, transfer"),
                  json_out: bool = JSON) -> None:
        """Add a user with roles; prints their API token once."""
        check_roles(role)
        limits: dict[str, int] = {}
        if approval_limit_pence is not None:
            limits["*"] = approval_limit_pence
        for item in limit:
            key, sep, value = item.partition("=")
            if not sep or key not in ("adjustment", "refund", "write_off", "transfer") or not value.isdigit():
                raise CommandError(f"--limit must be TYPE=PENCE with TYPE adjustment, refund, write_off or transfer, "
                                   f"not {item!r}")
            limits[key] = int(value)
        user = client().post("notifications", "/v1/users", json={"name": name, "roles": role, "patches": patch,
                                                                  "approval_limits": limits})
        show_token(user, json_out)

    @users_app.command("list")
    def users_list(json_out: bool = JSON) -> None:
        """Users with their roles, patches and limits (never their tokens)."""
        users = client().get("notifications", "/v1/users")["users"]
        if json_out:
            return emit_json(users)
        table(f"users: {len(users)}", [Col("user"), Col("roles"), Col("patches", drop=2), Col("limits", drop=3),
                                       Col("status"), Col("since", drop=1)],
              [[u["user"], ", ".join(u["roles"]), ", ".join(u["patches"]) or "-",
                ", ".join(f"{k}≤{v}" for k, v in u["approval_limits"].items()) or "-",
                "disabled" if u["disabled"] else "active", u["created_at"][:10]] for u in users])

    @users_app.command("disable")
    def users_disable(name: str = typer.Argument(..., metavar="NAME", help="the user"), json_out: bool = JSON) -> None:
        """Disable a user: their token stops working at once (`users token NAME` enables them again)."""
        user = client().post("notifications", f"/v1/users/{name}/disable")
        emit_json(user) if json_out else out.print(f"{user['user']} disabled", highlight=False)

    @users_app.command("token")
    def users_token(name: str = typer.Argument(..., metavar="NAME", help="the user"), json_out: bool = JSON) -> None:
        """A new API token for a user (shown once); their old token stops working."""
        show_token(client().post("notifications", f"/v1/users/{name}/token"), json_out)

    @users_app.command("bootstrap-admin")
    def users_bootstrap_admin(name: str = typer.Argument("admin", metavar="NAME", help="the first admin's name"),
                              role: List[str] = typer.Option([], "--role", metavar="ROLE",
                                                             help="more roles besides admin (repeat)"),
                              json_out: bool = JSON) -> None:
        """The first admin, on real infrastructure (DATABASE_URL), once: refused when an admin exists.
        Prints the token once; keep it safe, then add everyone else with `rentflow users add`."""
        from rentflow_cli.identity import bootstrap_admin

        check_roles(role)
        url = os.environ.get("DATABASE_URL")
        if not url:
            try:
                url = client().runtime["database"]["url"]
            except CommandError:
                raise CommandError("DATABASE_URL is not set (the database the services use)") from None
        try:
            user, token = bootstrap_admin(url, name, tuple(role))
        except Exception as exc:
            raise CommandError(f"bootstrap-admin refused: {exc}") from None
        err.print(f"created the first admin {user['user']} ({', '.join(user['roles'])}); this is done once: "
                  "more users with `rentflow users add`", highlight=False)
        show_token({**user, "token": token}, json_out)

    @audit_app.command("list")
    def audit_list(since: Optional[str] = typer.Option(None, "--since", metavar="DT",
                                                       help="at or after this time (ISO 8601; a date is midnight UTC)"),
                   user: Optional[str] = typer.Option(None, "--user", metavar="NAME", help="only what NAME did"),
                   account: Optional[str] = typer.Option(None, "--account", metavar="REF",
                                                         help="only what touched this rent account"),
                   limit: int = typer.Option(1000, "--limit", metavar="N", min=1, max=100_000,
                                             help="at most N entries per service"),
                   json_out: bool = JSON) -> None:
        """Every service's audit trail merged, oldest first: who, role, when, what, correlation id, before/after."""
        params: dict[str, Any] = {"limit": limit}
        if since:
            params["since"] = since if "T" in since else f"{since}T00:00:00+00:00"
        if user:
            params["user"] = user
        if account:
            params["account"] = account
        c = client()
        entries = []
        for svc in SERVICES:
            entries += [{**e, "service": svc} for e in c.get(svc, "/v1/audit", params=params)["entries"]]
        entries.sort(key=lambda e: (e["at"], e["service"]))
        if json_out:
            return emit_json(entries)
        table(f"audit: {len(entries)}", [Col("at"), Col("service", drop=3), Col("user"), Col("role", drop=4),
                                         Col("action"), Col("subject", drop=2), Col("account", drop=1)],
              [[e["at"][:19], e["service"], e["user"], e["role"] or "", e["action"], e["subject"] or "",
                e["account_ref"] or ""] for e in entries])
