from rentflow_notifications.domain.assignment import SHARED_QUEUE, Account, Officer, choose_assignee, patch_owner

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
