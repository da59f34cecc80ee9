"""identity.* and audit.* events, emitted by services/notifications (users) and every service (audit)."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# The roles a user may hold (several at once), and what each may do.
ROLES: dict[str, str] = {
    "officer": "own patch work: tasks, suspense allocation, adjustment requests, account reads",
    "manager": "approves others' adjustment requests, within a personal approval limit per type",
    "finance": "GL, reconciliation, period close, returns, statements, debit runs, rents",
    "ops": "status, metrics, dead letters, replay",
    "admin": "users, providers, settings",
}


class UserChanged(BaseModel):
    """identity.users.v1: a user as it now stands. Every service keeps the latest version of each
    user (its `principals`) to authenticate bearer tokens locally; a disabled user, or a user whose
    token was replaced, stops working as soon as this event is taken in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    roles: list[str]
    patches: list[str] = Field(default_factory=list)
    approval_limits: dict[str, int] = Field(
        default_factory=dict, description="manager: the largest amount in pence approvable per adjustment type "
                                          "(`*` for every type); none: no limit")
    token_sha256: str | None = Field(default=None, description="hex SHA-256 of the user's current API token")
    disabled: bool = False
    version: int = Field(ge=1, description="grows with every change of this user: older versions are ignored")
    changed_at: AwareDatetime
    changed_by: str | None = None


class AuditEntry(BaseModel):
    """audit.v1: one state change made by a person or a system, as written to a service's audit_log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    audit_id: uuid.UUID
    service: str
    actor: str
    role: str | None = Field(default=None, description="the roles the actor held, comma-separated")
    action: str = Field(description="what was done, e.g. adjustment.approved")
    subject: str | None = Field(default=None, description="what it was done to (an id or reference)")
    account_ref: str | None = None
    correlation_id: str
    at: AwareDatetime
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    via: Literal["token", "oidc", "signature", "system"] = "token"
