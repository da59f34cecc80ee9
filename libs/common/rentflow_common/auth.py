"""Who is calling, and may they: bearer tokens (rentflow's own API tokens, or OIDC access tokens
from the council's identity provider) carrying roles, checked by every HTTP route.

- Users live in services/notifications (`users`). Every change to one is emitted on
  identity.users.v1 through the outbox; every other service keeps the latest version of each
  user in its own `principals` table (`take_users`, idempotent: older versions are ignored), so it
  authenticates locally, with no call to another service, and a disabled user or a replaced token
  stops working as soon as the event is taken in (milliseconds; in notifications itself, at once).
- API tokens are random (256 bits) and stored only as their SHA-256.
- A route declares who may call it with a dependency: `Depends(require("officer", "finance"))`
  returns the `Caller`; 401 (JSON, `WWW-Authenticate: Bearer`) without a valid token, 403 for a
  caller holding none of the roles. Provider push routes carry `Depends(signed)` instead (their
  HMAC signature is their credential) and `GET /health` carries `Depends(public)`. `roles_of(route)`
  reads the declaration back; the OpenAPI document shows it as `x-rentflow-roles` /
  `x-rentflow-auth` on every operation (tests/test_route_roles.py walks it).
"""
from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import orjson
from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

from rentflow_common.logging import get_logger
from rentflow_schemas.identity import ROLES, UserChanged

log = get_logger(__name__)

TOKEN_PREFIX = "rf_"
# roles that see every patch; an officer (holding none of these) works only their own patches
PATCH_WIDE_ROLES = frozenset({"manager", "finance", "admin"})


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request: a user (API token or OIDC) with their roles."""

    name: str
    roles: frozenset[str]
    patches: tuple[str, ...] = ()
    limits: Mapping[str, int] = field(default_factory=dict)
    via: str = "token"  # token | oidc

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def role_text(self) -> str:
        return ",".join(sorted(self.roles))

    @property
    def patch_scope(self) -> tuple[str, ...] | None:
        """The patches this caller may work in: None for every patch (a manager, finance or admin),
        else an officer's own (none at all for an officer given no patch)."""
        return None if self.roles & PATCH_WIDE_ROLES else self.patches

    def may_work(self, patch: str | None) -> bool:
        scope = self.patch_scope
        return scope is None or (patch is not None and patch in scope)

    def limit(self, adjustment_type: str) -> int | None:
        """The largest amount (pence) this caller may approve of a type; None: no limit."""
        if adjustment_type in self.limits:
            return int(self.limits[adjustment_type])
        if "*" in self.limits:
            return int(self.limits["*"])
        return None


def new_token() -> str:
    """A new API token: 256 random bits, shown once, stored only as its hash."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------- storage

# The columns every service's `principals` and notifications' `users` share (the authenticator
# reads either). Created at service start (ServiceRuntime.start), idempotently, like the outbox's.
PRINCIPALS_DDL = [
    """create table if not exists principals (
        name text primary key,
        roles text[] not null,
        patches text[] not null default '{}',
        approval_limits jsonb not null default '{}',
        token_sha256 text,
        disabled boolean not null default false,
        version bigint not null,
        updated_at timestamptz not null default now()
    )""",
    "create index if not exists principals_token on principals (token_sha256)",
]


async def take_users(uow: Any, msgs: Sequence[Any]) -> None:
    """identity.users.v1 → principals: the latest version of each user wins; repeats and older
    versions change nothing."""
    latest: dict[str, UserChanged] = {}
    for m in msgs:
        u: UserChanged = m.data
        if u.name not in latest or latest[u.name].version < u.version:
            latest[u.name] = u
    if not latest:
        return
    await uow.raw.executemany(
        "insert into principals (name, roles, patches, approval_limits, token_sha256, disabled, version, updated_at) "
        "values ($1, $2, $3, $4::jsonb, $5, $6, $7, now()) on conflict (name) do update set roles = excluded.roles, "
        "patches = excluded.patches, approval_limits = excluded.approval_limits, "
        "token_sha256 = excluded.token_sha256, disabled = excluded.disabled, version = excluded.version, "
        "updated_at = now() where principals.version < excluded.version",
        [(u.name, list(u.roles), list(u.patches), orjson.dumps(u.approval_limits).decode(), u.token_sha256,
          u.disabled, u.version) for u in latest.values()])


def _caller_of(row: Any, via: str = "token") -> Caller:
    limits = row["approval_limits"]
    if isinstance(limits, (str, bytes)):
        limits = orjson.loads(limits)
    return Caller(name=row["name"], roles=frozenset(row["roles"]), patches=tuple(row["patches"]),
                  limits=dict(limits or {}), via=via)


class Authenticator:
    """Looks a bearer token up: an API token by its hash in `table` (principals, or notifications'
    users), a JWT through the OIDC verifier when one is configured."""

    def __init__(self, engine: Any, table: str = "principals", oidc: "OidcVerifier | None" = None) -> None:
        assert table in ("principals", "users")
        self.engine = engine
        self.table = table
        self.oidc = oidc

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            return list(await raw.fetch(sql, *args))

    async def authenticate(self, token: str) -> Caller | None:
        if token.count(".") == 2 and not token.startswith(TOKEN_PREFIX):
            if self.oidc is None:
                return None
            caller = await self.oidc.verify(token)
            if caller is None:
                return None
            # a user disabled here is refused even with a valid token from the identity provider
            rows = await self._fetch(f"select disabled, patches, approval_limits from {self.table} where name = $1",
                                     caller.name)
            if rows and rows[0]["disabled"]:
                return None
            return self.oidc.with_local(caller, rows[0] if rows else None)
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        rows = await self._fetch(
            f"select name, roles, patches, approval_limits, disabled from {self.table} "
            "where token_sha256 = $1 limit 2", token_hash(token))
        if len(rows) != 1 or rows[0]["disabled"]:
            return None
        return _caller_of(rows[0])


# --------------------------------------------------------------------------- OIDC

class OidcVerifier:
    """JWT access tokens from a configured issuer, verified with PyJWT against the issuer's JWKS
    (fetched over HTTP and cached by PyJWKClient): signature, `iss`, `aud`, `exp`/`nbf`. Roles come
    from a claim (a list, or a space/comma separated string; a dotted path such as
    `realm_access.roles` reaches into objects), each mapped through `role_map` (identity provider
    group → rentflow role) or kept when it already is a rentflow role."""

    def __init__(self, *, issuer: str, jwks_url: str, audience: str | None, roles_claim: str = "roles",
                 role_map: Mapping[str, str] | None = None, name_claim: str = "preferred_username",
                 algorithms: Sequence[str] = ("RS256", "ES256", "PS256"), patches_claim: str | None = None,
                 limits_claim: str | None = None) -> None:
        import jwt

        self.patches_claim = patches_claim
        self.limits_claim = limits_claim
        self.issuer = issuer
        self.audience = audience
        self.roles_claim = roles_claim
        self.role_map = dict(role_map or {})
        self.name_claim = name_claim
        self.algorithms = list(algorithms)
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=10)

    @classmethod
    def from_settings(cls, settings: Any) -> "OidcVerifier | None":
        if not getattr(settings, "oidc_issuer", None):
            return None
        return cls(issuer=settings.oidc_issuer, jwks_url=settings.oidc_jwks_url, audience=settings.oidc_audience,
                   roles_claim=settings.oidc_roles_claim, role_map=parse_role_map(settings.oidc_role_map),
                   name_claim=settings.oidc_name_claim, patches_claim=getattr(settings, "oidc_patches_claim", None),
                   limits_claim=getattr(settings, "oidc_limits_claim", None))

    async def verify(self, token: str) -> Caller | None:
        import jwt

        try:
            key = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(token, key.key, algorithms=self.algorithms, issuer=self.issuer,
                                audience=self.audience, options={"require": ["exp", "iss", "sub"],
                                                                 "verify_aud": self.audience is not None},
                                leeway=30)
        except jwt.PyJWTError as exc:
            log.info("auth.oidc_refused", reason=f"{type(exc).__name__}: {exc}"[:200])
            return None
        name = claims.get(self.name_claim) or claims["sub"]
        roles = {self.role_map.get(r, r) for r in _claim_values(claims, self.roles_claim)}
        patches: tuple[str, ...] | None = None
        if self.patches_claim and _claim(claims, self.patches_claim) is not None:
            patches = tuple(dict.fromkeys(p for p in _claim_values(claims, self.patches_claim) if 0 < len(p) <= 100))
        limits = _limits(_claim(claims, self.limits_claim)) if self.limits_claim else None
        return OidcCaller(name=str(name), roles=frozenset(r for r in roles if r in ROLES), via="oidc",
                          patches=patches or (), limits=limits or {}, claimed_patches=patches is not None,
                          claimed_limits=limits is not None)

    @staticmethod
    def with_local(caller: Caller, local: Any) -> Caller:
        """An identity provider's user completed from the rentflow user of the same name (`users add`):
        their patches and approval limits, unless the token carried its own (configured claims). Roles
        stay the identity provider's. A manager known to neither approves nothing (a limit of 0) until
        an admin records one: an unknown limit never means no limit."""
        claimed_patches = getattr(caller, "claimed_patches", False)
        claimed_limits = getattr(caller, "claimed_limits", False)
        patches, limits = caller.patches, dict(caller.limits)
        if local is not None:
            row_limits = local["approval_limits"]
            if isinstance(row_limits, (str, bytes)):
                row_limits = orjson.loads(row_limits)
            if not claimed_patches:
                patches = tuple(local["patches"])
            if not claimed_limits:
                limits = dict(row_limits or {})
        elif not claimed_limits and "manager" in caller.roles:
            limits = {"*": 0}
        return Caller(name=caller.name, roles=caller.roles, patches=patches, limits=limits, via="oidc")


@dataclass(frozen=True)
class OidcCaller(Caller):
    """A caller straight from a verified JWT, saying which of its patches and limits the token carried."""

    claimed_patches: bool = False
    claimed_limits: bool = False


def _claim(claims: Mapping[str, Any], path: str | None) -> Any:
    node: Any = claims
    for part in (path or "").split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _limits(value: Any) -> dict[str, int] | None:
    """A limits claim: a number (every type) or {type: pence}; anything else is no claim."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, str)) and str(value).isdigit():
        return {"*": int(value)}
    if isinstance(value, Mapping):
        out = {str(k): int(v) for k, v in value.items()
               if not isinstance(v, bool) and isinstance(v, (int, str)) and str(v).isdigit()}
        return out or None
    return None


def _claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    if isinstance(node, str):
        return [v for v in node.replace(",", " ").split() if v]
    if isinstance(node, list):
        return [str(v) for v in node]
    return []


def parse_role_map(text: str) -> dict[str, str]:
    """"idp-group=role,other=role" → {idp-group: role, ...}; every role must be a rentflow role."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        source, _, role = part.partition("=")
        if not role or role.strip() not in ROLES:
            raise ValueError(f"RENTFLOW_OIDC_ROLE_MAP: {part!r} must be group=role with role one of {', '.join(ROLES)}")
        out[source.strip()] = role.strip()
    return out


# --------------------------------------------------------------------------- the dependencies

def _unauthorised(detail: str, error: str | None = None) -> HTTPException:
    challenge = 'Bearer realm="rentflow"' + (f', error="{error}"' if error else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def authenticate_request(request: Request) -> Caller:
    cached = getattr(request.state, "caller", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = bearer_token(request)
    if token is None:
        raise _unauthorised("a bearer token is needed: Authorization: Bearer <token> (`rentflow users add`, "
                            "or an access token from the configured identity provider)")
    started = time.perf_counter()
    caller = await request.app.state.runtime.auth.authenticate(token)
    if caller is None:
        raise _unauthorised("the bearer token is not valid (unknown, replaced, expired, or its user disabled)",
                            "invalid_token")
    request.state.caller = caller
    request.state.auth_ms = (time.perf_counter() - started) * 1000
    return caller


def require(*roles: str) -> Callable[[Request], Any]:
    """A route dependency: the authenticated Caller, who must hold one of `roles` (any role when
    none are named). Use as `caller: Caller = Depends(require("officer"))` or in a route's
    `dependencies=[...]`."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    allowed = frozenset(roles or ROLES)

    async def dependency(request: Request) -> Caller:
        caller = await authenticate_request(request)
        if not caller.roles & allowed:
            raise HTTPException(403, f"{caller.name} may not do this: it needs one of the roles "
                                     f"{', '.join(sorted(allowed))} (has {caller.role_text or 'none'})")
        return caller

    dependency.rentflow_roles = allowed  # type: ignore[attr-defined]
    return dependency


def outside_patch(caller: Caller, account_ref: str, patch: str | None) -> HTTPException:
    """403 for an officer reaching an account outside their patches, naming the patch."""
    where = f"account {account_ref} is in patch {patch}" if patch else f"account {account_ref} has no patch"
    if not caller.patches:
        return HTTPException(403, f"{caller.name} has no patch, so works no account: {where} (an admin gives an "
                                  "officer patches: rentflow officers add NAME --patch P)")
    return HTTPException(403, f"{caller.name} works patch {', '.join(caller.patches)}: {where} (an officer acts "
                              "only in their own patches; managers and finance see all)")


def check_patches(caller: Caller, patches: Mapping[str, str | None]) -> None:
    """Raises 403 (outside_patch) unless the caller may work every account given (ref → its patch)."""
    for ref, patch in patches.items():
        if not caller.may_work(patch):
            raise outside_patch(caller, ref, patch)


async def signed() -> None:
    """Marks a route whose caller is a payment provider proven by its HMAC signature (checked in
    the route), not a user."""


async def public() -> None:
    """Marks a route anyone may call (`GET /health`; `/metrics` when the operator opens it)."""


signed.rentflow_auth = "signature"  # type: ignore[attr-defined]
public.rentflow_auth = "public"  # type: ignore[attr-defined]


def _calls(route: Any) -> Iterable[Any]:
    stack = list(route.dependant.dependencies)
    while stack:
        d = stack.pop()
        yield d.call
        stack.extend(d.dependencies)


def api_routes(app: Any) -> list[Any]:
    """Every API route of an app, included routers flattened (each has path_format, methods,
    dependant, include_in_schema)."""
    from fastapi.routing import iter_route_contexts

    return [ctx for ctx in iter_route_contexts(app.routes) if isinstance(ctx.original_route, APIRoute)]


def roles_of(route: Any) -> tuple[str, frozenset[str]]:
    """What a route declares: ("roles", {...}), ("signature", {}), ("public", {}) or ("none", {})."""
    for call in _calls(route):
        if hasattr(call, "rentflow_roles"):
            return "roles", call.rentflow_roles
    for call in _calls(route):
        if hasattr(call, "rentflow_auth"):
            return call.rentflow_auth, frozenset()
    return "none", frozenset()


def annotate_openapi(app: Any) -> None:
    """Each operation in the app's OpenAPI document says who may call it: `x-rentflow-auth`
    (roles, signature, public, none) and `x-rentflow-roles`; bearer routes carry the bearer
    security scheme."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema  # type: ignore[no-any-return]
        doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        doc.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http", "scheme": "bearer",
            "description": "an API token (`rentflow users add`) or an OIDC access token"}
        for route in api_routes(app):
            if not route.include_in_schema:
                continue
            kind, roles = roles_of(route)
            for method in route.methods or ():
                op = doc.get("paths", {}).get(route.path_format, {}).get(method.lower())
                if op is None:
                    continue
                op["x-rentflow-auth"] = kind
                if kind == "roles":
                    op["x-rentflow-roles"] = sorted(roles)
                    op["security"] = [{"bearer": []}]
                    op.setdefault("responses", {}).setdefault("401", {"description": "no valid bearer token"})
                    op["responses"].setdefault("403", {"description": "a role that may not do this"})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi


def route_matrix(app: Any) -> list[dict[str, Any]]:
    """Every route of an app with who may call it (docs and the report)."""
    rows = []
    for route in api_routes(app):
        kind, roles = roles_of(route)
        for method in sorted(route.methods or ()):
            rows.append({"method": method, "path": route.path_format, "auth": kind, "roles": sorted(roles)})
    return sorted(rows, key=lambda r: (r["path"], r["method"]))
