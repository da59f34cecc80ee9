"""Users: who may call rentflow. Each change is one new version of the user, emitted on
identity.users.v1 (every other service keeps it to authenticate locally) and written to the
audit trail. Tokens are made here, shown once, and stored only as their SHA-256."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from rentflow_common.auth import new_token, token_hash
from rentflow_common.db import UnitOfWork
from rentflow_schemas.identity import ROLES, UserChanged
from rentflow_notifications.service_layer import handlers

UTC = dt.timezone.utc
ADJUSTMENT_TYPES = ("adjustment", "refund", "write_off", "transfer", "*")


class UserError(ValueError):
    """Refused: `status` is the HTTP status that says why."""

    def __init__(self, reason: str, status: int = 409) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class NewUser:
    name: str
    roles: tuple[str, ...]
    patches: tuple[str, ...] = ()
    approval_limits: dict[str, int] | None = None


def check_roles(roles: tuple[str, ...]) -> None:
    if not roles:
        raise UserError("roles: at least one of " + ", ".join(ROLES), 422)
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        raise UserError(f"roles: {unknown} unknown; one or more of {', '.join(ROLES)}", 422)


def public(row: Any) -> dict[str, Any]:
    limits = row["approval_limits"]
    return {"user": row["name"], "roles": list(row["roles"]), "patches": list(row["patches"]),
            "approval_limits": orjson.loads(limits) if isinstance(limits, (str, bytes)) else dict(limits or {}),
            "disabled": row["disabled"], "version": row["version"],
            "created_at": row["created_at"].isoformat(), "created_by": row["created_by"],
            "updated_at": row["updated_at"].isoformat()}


async def _get(raw: Any, name: str, *, for_update: bool = False) -> Any:
    return await raw.fetchrow("select * from users where lower(name) = lower($1)" + (" for update" if for_update
                                                                                      else ""), name.strip())


async def _save(uow: UnitOfWork, name: str, roles: list[str], patches: list[str], limits: dict[str, int],
                digest: str | None, disabled: bool, before: Any, action: str, *, as_officer: bool = True) -> Any:
    now = dt.datetime.now(UTC)
    version = (before["version"] if before is not None else 0) + 1
    row = await uow.raw.fetchrow(
        "insert into users (name, roles, patches, approval_limits, token_sha256, disabled, version, created_at, "
        "created_by, updated_at) values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $8) on conflict (name) do update "
        "set roles = excluded.roles, patches = excluded.patches, approval_limits = excluded.approval_limits, "
        "token_sha256 = excluded.token_sha256, disabled = excluded.disabled, version = excluded.version, "
        "updated_at = excluded.updated_at returning *",
        name, roles, patches, orjson.dumps(limits).decode(), digest, disabled, version, now, uow.actor)
    uow.emit(UserChanged(name=name, roles=roles, patches=patches, approval_limits=limits, token_sha256=digest,
                         disabled=disabled, version=version, changed_at=now, changed_by=uow.actor))
    uow.audit(action, subject=name, before=public(before) if before is not None else None, after=public(row))
    if as_officer and {"officer", "manager"} & set(roles) and not disabled:
        # tasks for accounts in their patches go to them (the officers list)
        await handlers.register_officer(uow, handlers.RegisterOfficer(
            name=name, patches=tuple(patches), role="manager" if "manager" in roles else "officer"))
    return row


async def add_user(uow: UnitOfWork, new: NewUser) -> tuple[dict[str, Any], str]:
    """A new user and their token (shown once). 409 when the name is taken."""
    check_roles(new.roles)
    if await _get(uow.raw, new.name) is not None:
        raise UserError(f"user {new.name!r} exists; `rentflow users token {new.name}` gives a new token")
    token = new_token()
    row = await _save(uow, new.name, list(dict.fromkeys(new.roles)), list(dict.fromkeys(new.patches)),
                      dict(new.approval_limits or {}), token_hash(token), False, None, "user.added")
    return public(row), token


async def upsert_officer(uow: UnitOfWork, name: str, role: str, patches: tuple[str, ...]
                         ) -> tuple[dict[str, Any], str | None]:
    """`officers add`: a new user with the officer or manager role (and a token), or an existing
    user given that role and these patches (no new token: `users token NAME` makes one)."""
    before = await _get(uow.raw, name, for_update=True)
    if before is None:
        user, token = await add_user(uow, NewUser(name, (role,), patches))
        return user, token
    roles = list(dict.fromkeys([*before["roles"], role]))
    limits = before["approval_limits"]
    limits = orjson.loads(limits) if isinstance(limits, (str, bytes)) else dict(limits or {})
    row = await _save(uow, before["name"], roles, list(dict.fromkeys(patches)), limits, before["token_sha256"],
                      before["disabled"], before, "user.changed")
    return public(row), None


async def list_users(raw: Any) -> list[dict[str, Any]]:
    return [public(r) for r in await raw.fetch("select * from users order by name")]


async def disable_user(uow: UnitOfWork, name: str) -> dict[str, Any]:
    before = await _get(uow.raw, name, for_update=True)
    if before is None:
        raise UserError(f"no user {name!r}", 404)
    if uow.actor and before["name"].casefold() == uow.actor.casefold():
        raise UserError("you cannot disable yourself (another admin can)", 409)
    limits = before["approval_limits"]
    row = await _save(uow, before["name"], list(before["roles"]), list(before["patches"]),
                      orjson.loads(limits) if isinstance(limits, (str, bytes)) else dict(limits or {}),
                      None, True, before, "user.disabled")
    return public(row)


async def rotate_token(uow: UnitOfWork, name: str) -> tuple[dict[str, Any], str]:
    """A new token for the user (enabling them again if they were disabled); the old one stops working."""
    before = await _get(uow.raw, name, for_update=True)
    if before is None:
        raise UserError(f"no user {name!r}", 404)
    token = new_token()
    limits = before["approval_limits"]
    row = await _save(uow, before["name"], list(before["roles"]), list(before["patches"]),
                      orjson.loads(limits) if isinstance(limits, (str, bytes)) else dict(limits or {}),
                      token_hash(token), False, before, "user.token_replaced")
    return public(row), token


async def bootstrap_admin(uow: UnitOfWork, name: str, roles: tuple[str, ...] = ("admin",)) -> tuple[dict[str, Any], str]:
    """The first admin, once: refused (409) when an enabled admin exists."""
    admins = await uow.raw.fetchval("select count(*) from users where 'admin' = any(roles) and not disabled")
    if admins:
        raise UserError("an admin exists already; an admin adds users with `rentflow users add`")
    before = await _get(uow.raw, name, for_update=True)
    if before is not None:
        raise UserError(f"user {name!r} exists (not an admin); choose another name")
    return await add_user(uow, NewUser(name, tuple(dict.fromkeys(("admin", *roles)))))


async def ensure_local_admin(uow: UnitOfWork, token: str | None, name: str = "admin") -> str | None:
    """`rentflow up` on the embedded default: the local operator `admin` holding every role.
    Keeps `token` when it is that user's working token; else gives the user a new one (returned)."""
    row = await _get(uow.raw, name, for_update=True)
    if (row is not None and token is not None and row["token_sha256"] == token_hash(token)
            and not row["disabled"] and set(ROLES) <= set(row["roles"])):
        return None
    new = new_token()
    await _save(uow, name, list(ROLES), list(row["patches"]) if row is not None else [], {}, token_hash(new), False,
                row, "user.local_admin", as_officer=False)
    return new
