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


def spread_assignee(account: Account | None, officers: list[Officer] | tuple[Officer, ...],
                    open_load: dict[str, int]) -> str:
    """For tasks that must not wait in a queue (DD failures, mandate changes):
    1. the officer whose patch covers the account; 2. the officer named on the account;
    3. else the income officer (role officer, not manager) with the fewest open tasks, ties by name;
    4. the shared queue only when no income officer is registered, or no account is known at all.

    `open_load` is open tasks per officer *including those assigned earlier in the same batch*:
    the caller adds 1 for every task it hands out, or a batch would pile onto one officer. The
    choice is made once, when the task opens, and stored; redelivered input finds the task and
    never asks again, so it cannot change. ("Evenly" is by open work at that moment; a rebuild from
    an empty database would see other loads, because completions are commands, not events.)"""
    if account is None:
        return SHARED_QUEUE
    chosen = choose_assignee(account, officers)
    if chosen != SHARED_QUEUE:
        return chosen
    candidates = [o for o in officers if o.role == "officer"]
    if not candidates:
        return SHARED_QUEUE
    return min(candidates, key=lambda o: (open_load.get(o.name, 0), o.name)).name
