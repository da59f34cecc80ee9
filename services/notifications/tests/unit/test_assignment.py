from rentflow_notifications.domain.assignment import (
    SHARED_QUEUE, Account, Officer, choose_assignee, patch_owner, spread_assignee)

ASHA = Officer("Asha", "officer", frozenset({"N1", "N2"}))
BEN = Officer("Ben", "officer", frozenset({"S1"}))
MEERA = Officer("Meera", "manager", frozenset({"N1", "S1", "E1"}))
OFFICERS = [MEERA, BEN, ASHA]


def test_no_account_goes_to_the_shared_queue():
    assert choose_assignee(None, OFFICERS) == SHARED_QUEUE == "income-team"


def test_patch_officer_takes_the_task():
    assert choose_assignee(Account("1001", "N2"), OFFICERS) == "Asha"


def test_officer_preferred_to_manager_covering_the_same_patch():
    assert choose_assignee(Account("1001", "N1"), OFFICERS) == "Asha"
    assert choose_assignee(Account("1002", "E1"), OFFICERS) == "Meera"  # only the manager covers it


def test_patch_owner_is_deterministic_between_officers():
    cara = Officer("Cara", "officer", frozenset({"N1"}))
    assert patch_owner("N1", [cara, ASHA]) == ASHA
    assert patch_owner("N1", [ASHA, cara]) == ASHA
    assert patch_owner("W9", OFFICERS) is None


def test_named_officer_when_no_one_covers_the_patch():
    assert choose_assignee(Account("1003", "W9", officer="Ben"), OFFICERS) == "Ben"


def test_patch_wins_over_named_officer():
    assert choose_assignee(Account("1004", "N2", officer="Ben"), OFFICERS) == "Asha"


def test_unregistered_named_officer_and_uncovered_patch_go_to_queue():
    assert choose_assignee(Account("1005", "W9", officer="Nobody"), OFFICERS) == SHARED_QUEUE
    assert choose_assignee(Account("1005", "N1"), []) == SHARED_QUEUE


def test_spread_prefers_the_patch_owner_then_the_named_officer():
    officers = [Officer("Asha", patches=frozenset({"N1"})), Officer("Ben"), Officer("Cara", role="manager")]
    load = {"Asha": 50, "Ben": 0}
    assert spread_assignee(Account("1", "N1"), officers, load) == "Asha"
    assert spread_assignee(Account("2", "S9", officer="Cara"), officers, load) == "Cara"
    assert spread_assignee(None, officers, load) == SHARED_QUEUE  # no account known at all


def test_spread_goes_to_the_least_loaded_income_officer_ties_by_name_never_a_manager():
    officers = [Officer("Dev"), Officer("Ben"), Officer("Asha"), Officer("Max", role="manager")]
    load: dict[str, int] = {"Asha": 2, "Ben": 1, "Dev": 1, "Max": 0}
    picks = []
    for n in range(7):  # the caller counts each task it hands out, as the batch handler does
        who = spread_assignee(Account(str(n), "S9"), officers, load)
        load[who] = load.get(who, 0) + 1
        picks.append(who)
    assert picks == ["Ben", "Dev", "Asha", "Ben", "Dev", "Asha", "Ben"]
    assert {k: v for k, v in load.items() if k != "Max"} == {"Asha": 4, "Ben": 4, "Dev": 3}
    assert spread_assignee(Account("x", "S9"), [Officer("Max", role="manager")], {}) == SHARED_QUEUE
