"""Configuration by environment, read once per process into one settings object per service
(pydantic-settings), validated at start. Domain and service code take values from it and never
read the environment themselves.

Each field names its variable (`validation_alias`) and says what it is for (`description`); the
table in docs/settings.md is generated from these classes."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound="Settings")


class SettingsError(RuntimeError):
    """A variable is missing or has a value that is not allowed; the message names it."""


class Settings(BaseSettings):
    """What every service process reads."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field(
        validation_alias="KAFKA_BOOTSTRAP_SERVERS", min_length=1,
        description="Kafka bootstrap servers (host:port,…); `rentflow up` sets it, or starts the embedded broker")
    database_url: str = Field(
        validation_alias="DATABASE_URL", min_length=1,
        description="PostgreSQL URL (postgresql://…); `rentflow up` sets it, or starts the embedded database")
    home: Path = Field(Path("./.rentflow"), validation_alias="RENTFLOW_HOME",
                       description="folder for everything a local run writes")
    partitions: int = Field(6, ge=1, le=1000, validation_alias="RENTFLOW_PARTITIONS",
                            description="partitions of each topic rentflow creates")
    log_format: Literal["json", "console"] = Field("json", validation_alias="RENTFLOW_LOG_FORMAT",
                                                   description="structured log lines as JSON, or for a terminal")
    topic_prefix: str = Field("", max_length=100, validation_alias="RENTFLOW_TOPIC_PREFIX",
                              description="prepended to every topic and consumer group (tests share one broker)")
    host: str = Field("127.0.0.1", validation_alias="RENTFLOW_HOST", description="address the HTTP API listens on")
    port: int = Field(8000, ge=0, le=65535, validation_alias="RENTFLOW_PORT", description="port of the HTTP API")
    fetch_max_wait_ms: int = Field(
        25, ge=1, le=10_000, validation_alias="RENTFLOW_FETCH_MAX_WAIT_MS",
        description="how long a consumer's fetch waits at the broker for new messages: the embedded broker "
                    "does not answer when messages arrive but when it next looks (at 0, 1/2, 3/4, 7/8... of "
                    "this wait) or it runs out, so it is each hop's latency there; a Kafka cluster answers as "
                    "soon as messages arrive, so 500 saves idle polling there")
    background_fetch_wait_ms: int = Field(
        300, ge=1, le=10_000, validation_alias="RENTFLOW_BACKGROUND_FETCH_WAIT_MS",
        description="the fetch wait of the consumer groups off a payment's path to its account (reporting, "
                    "notifications): the embedded broker spends 0.7-3.5 ms on each fetch (more the more "
                    "partitions it reads), with records or without, so these look twelve times less often than "
                    "the ledger; KPIs and officer tasks follow within this")
    fetch_idle_wait_ms: int = Field(
        1000, ge=1, le=10_000, validation_alias="RENTFLOW_FETCH_IDLE_WAIT_MS",
        description="the fetch wait of a consumer that has had nothing for 2 seconds (the ledger's: for 30 "
                    "seconds; back to RENTFLOW_FETCH_MAX_WAIT_MS with its first message): an idle service does not "
                    "poll the broker; the first message after a quiet spell takes up to half this long per hop on "
                    "the embedded broker (it looks at 0, 1/2, 3/4... of a fetch's wait); a Kafka cluster answers at "
                    "once")
    path_fetch_idle_wait_ms: int = Field(
        200, ge=1, le=10_000, validation_alias="RENTFLOW_PATH_FETCH_IDLE_WAIT_MS",
        description="the idle fetch wait of the one group on a payment's path, the ledger's, from 2 to 30 "
                    "seconds without messages (after that, and in the other groups: RENTFLOW_FETCH_IDLE_WAIT_MS): "
                    "the embedded broker looks for messages at 0, 1/2, 3/4... of an idle fetch's wait, so the first "
                    "payments after a pause of up to half a minute wait up to half this long there (measured at "
                    "200: 46 ms on average, 94 at most; at 400: 63 and 204; `./dev bench trickle --raw`); meanwhile "
                    "the ledger fetches 5 times a second")
    background_nice: int = Field(
        10, ge=0, le=19, validation_alias="RENTFLOW_BACKGROUND_NICE",
        description="the CPU priority (nice) of the services off a payment's path to its account (reporting, "
                    "notifications): where the cores are short (a burst, other work on the machine), a payment's "
                    "path to its account gets them first and KPIs and officer tasks follow in their spare time; "
                    "0 runs them as the rest")
    memory_keep_mb: int = Field(
        256, ge=0, le=65_536, validation_alias="RENTFLOW_MEMORY_KEEP_MB",
        description="memory a service keeps, once its batches have freed it, for the next ones rather than "
                    "giving it back to the OS (MiB of Python's object arenas, and as much of malloc's heap): "
                    "taken again from the OS, each page costs a page fault, 18% of the ledger's CPU in a burst "
                    "(rentflow_memory); 0 gives it back as Python and glibc do by default")
    stuck_exit_s: float = Field(
        120.0, ge=0, le=86_400, validation_alias="RENTFLOW_STUCK_EXIT_S",
        description="a consumer stuck this long (a batch in hand not written, or no fetch completed, while "
                    "nothing failed; /health says so after 30 s) ends its process, exit code 70, for `rentflow "
                    "up` or the container's restart policy to start it again: what it had fetched is read again "
                    "and what it wrote recognised; 0: /health only")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", validation_alias="RENTFLOW_EVENT_LOOP",
        description="the services' event loop: uvloop (libuv), or Python's own asyncio loop")
    outbox_retention_days: float = Field(
        7.0, gt=0, le=3650, validation_alias="RENTFLOW_OUTBOX_RETENTION_DAYS",
        description="how long published events stay in the outbox log (and processed ids in the inbox) to be "
                    "published again after a broker loss or a replay")

    metrics_open: bool = Field(False, validation_alias="RENTFLOW_METRICS_OPEN",
                               description="serve /metrics without a token (else it needs the ops role)")
    oidc_issuer: str | None = Field(None, max_length=1000, validation_alias="RENTFLOW_OIDC_ISSUER",
                                    description="OIDC: the issuer (`iss`) whose JWT access tokens are accepted; "
                                                "unset: only rentflow's own API tokens")
    oidc_jwks_url: str | None = Field(None, max_length=2000, validation_alias="RENTFLOW_OIDC_JWKS_URL",
                                      description="OIDC: the issuer's JWKS URL (its signing keys)")
    oidc_audience: str | None = Field(None, max_length=1000, validation_alias="RENTFLOW_OIDC_AUDIENCE",
                                      description="OIDC: the audience (`aud`) access tokens must carry")
    oidc_roles_claim: str = Field("roles", max_length=200, validation_alias="RENTFLOW_OIDC_ROLES_CLAIM",
                                  description="OIDC: the claim holding the caller's roles or groups (a dotted path "
                                              "reaches into objects, e.g. realm_access.roles)")
    oidc_role_map: str = Field("", max_length=10_000, validation_alias="RENTFLOW_OIDC_ROLE_MAP",
                               description="OIDC: group=role pairs, comma-separated, mapping the identity "
                                           "provider's values to rentflow roles (values that are roles pass)")
    oidc_name_claim: str = Field("preferred_username", max_length=200, validation_alias="RENTFLOW_OIDC_NAME_CLAIM",
                                 description="OIDC: the claim naming the user (else `sub`)")
    oidc_patches_claim: str | None = Field(
        None, max_length=200, validation_alias="RENTFLOW_OIDC_PATCHES_CLAIM",
        description="OIDC: a claim holding an officer's patches (a list or space/comma separated); unset or "
                    "absent from a token: the patches of the rentflow user of the same name")
    oidc_limits_claim: str | None = Field(
        None, max_length=200, validation_alias="RENTFLOW_OIDC_LIMITS_CLAIM",
        description="OIDC: a claim holding a manager's approval limits in pence (a number for every type, or "
                    "an object of type: pence); unset or absent: the rentflow user's of the same name, else 0")

    @field_validator("oidc_role_map")
    @classmethod
    def _role_map(cls, value: str) -> str:
        from rentflow_common.auth import parse_role_map
        parse_role_map(value)
        return value

    @field_validator("oidc_jwks_url")
    @classmethod
    def _jwks_needs_issuer(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _oidc_complete(self) -> "Settings":
        if self.oidc_issuer and not self.oidc_jwks_url:
            raise ValueError("RENTFLOW_OIDC_ISSUER needs RENTFLOW_OIDC_JWKS_URL (where its signing keys are)")
        return self

    @field_validator("home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @classmethod
    def from_env(cls: type[S], environ: dict[str, str] | None = None) -> S:
        """Reads and validates the environment; SettingsError names every bad or missing variable."""
        env = dict(os.environ if environ is None else environ)
        try:
            return cls.model_validate({k: v for k, v in env.items()})
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    @classmethod
    def extend(cls: type[S], base: "Settings | None") -> S:
        """`base` as this service's settings: the common values from `base`, the service's own from
        the environment (a service built in-process by a test or bench from plain Settings)."""
        if base is None or isinstance(base, cls):
            return base if base is not None else cls.from_env()  # type: ignore[return-value]
        common = {str(f.validation_alias) for f in Settings.model_fields.values()}
        try:
            return cls.model_validate({**{k: v for k, v in os.environ.items() if k not in common},
                                       **base.model_dump()})
        except ValidationError as exc:
            raise SettingsError(describe(exc)) from None

    @property
    def outbox_retention(self) -> dt.timedelta:
        return dt.timedelta(days=self.outbox_retention_days)


def describe(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        name = ".".join(str(x) for x in e["loc"]) or "settings"
        if e["type"] == "missing":
            hint = " (start services with `rentflow up`, or set it)" if name in (
                "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL") else ""
            parts.append(f"{name} is not set{hint}")
        else:
            secret = any(w in name for w in ("KEY", "SECRET", "TOKEN", "PASSWORD"))
            parts.append(f"{name}: {e['msg']}" + ("" if secret else f" (got {e.get('input')!r})"))
    return "; ".join(parts)


def home_dir() -> Path:
    """RENTFLOW_HOME for the CLI, which runs before any service settings exist."""
    return Path(os.environ.get("RENTFLOW_HOME", "./.rentflow")).resolve()


def event_loop_name() -> str:
    """RENTFLOW_EVENT_LOOP, or its default, for a bench that runs before any service settings exist."""
    return os.environ.get("RENTFLOW_EVENT_LOOP") or Settings.model_fields["event_loop"].default


def settings_table(classes: list[type[Settings]]) -> str:
    """A markdown table of every variable of these settings classes (docs/settings.md)."""
    rows: dict[str, tuple[str, str, str]] = {}
    for cls in classes:
        owner = cls.__doc__.strip().splitlines()[0] if cls.__doc__ else cls.__name__
        for name, f in cls.model_fields.items():
            var = str(f.validation_alias or name).upper()
            default = "required" if f.is_required() else _show(f.default)
            who = "every service" if name in Settings.model_fields else owner
            if var in rows:
                if rows[var][1] != default:
                    raise ValueError(f"{var} has two defaults: {rows[var][1]} and {default}")
                if owner not in rows[var][0] and rows[var][0] != "every service":
                    rows[var] = (f"{rows[var][0]}, {owner}", default, rows[var][2])
            else:
                rows[var] = (who, default, f.description or "")
    lines = ["| variable | read by | default | what it is for |", "| --- | --- | --- | --- |"]
    lines += [f"| `{var}` | {who} | {default} | {desc} |" for var, (who, default, desc) in sorted(rows.items())]
    return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return f"`{value}`"
