"""Who a task goes to. Pure: the caller loads officers and accounts."""
from __future__ import annotations

from dataclasses import dataclass, field

SHARED_QUEUE = "income-team"
ROLES = ("officer", "manager")


@dataclass(frozen=True)
class Officer:
    name: str
    role: str = "officer"
    patches: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Account:
    account_ref: str
    patch: str
    officer: str | None = None


def patch_owner(patch: str, officers: list[Officer] | tuple[Officer, ...]) -> Officer | None:
    """The officer covering a patch: income officers before managers, then by name, so the
    choice is the same on every instance and every redelivery."""
    covering = [o for o in officers if patch in o.patches]
    if not covering:
        return None
    return min(covering, key=lambda o: (o.role != "officer", o.name))


def choose_assignee(account: Account | None, officers: list[Officer] | tuple[Officer, ...]) -> str:
    """1. the registered officer whose patch covers the account;
    2. else the registered officer named on the account;
    3. else the shared queue (no account known, or nobody registered for it)."""
    if account is None:
        return SHARED_QUEUE
    owner = patch_owner(account.patch, officers)
    if owner is not None:
        return owner.name
    if account.officer and any(o.name == account.officer for o in officers):
        return account.officer
    return SHARED_QUEUE
