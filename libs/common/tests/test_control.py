"""The control total's comparison, side by side: balanced only when counts, pence and ids agree."""
from __future__ import annotations

from rentflow_common.control import reconcile


def group(day, channel, count, pence, doubled=()):
    return {"day": day, "channel": channel, "count": count, "pence": pence, "doubled": list(doubled)}


def test_equal_sides_balance_without_listing_payments():
    asked = []
    result = reconcile([group("2026-10-05", "card", 2, 300)], [group("2026-10-05", "card", 2, 300)],
                       lambda *a: asked.append(a) or [])
    assert result["balanced"] is True and asked == []
    assert (result["accepted_count"], result["ledger_pence"], result["missing"]) == (2, 300, [])


def test_a_group_that_differs_names_missing_doubled_unknown_and_amounts():
    items = {("accepted", "2026-10-05", "card"): [("a", 100), ("b", 200), ("c", 50)],
             ("ledger", "2026-10-05", "card"): [("a", 100), ("a", 100), ("c", 60), ("x", 5)],
             ("accepted", "2026-10-06", "cash"): [("k", 10)]}
    result = reconcile([group("2026-10-05", "card", 3, 350), group("2026-10-06", "cash", 1, 10)],
                       [group("2026-10-05", "card", 4, 265, doubled=["a"])], lambda *k: items[k])
    assert result["balanced"] is False
    card, cash = result["groups"]
    assert (card["missing"], card["doubled"], card["unknown"], card["amounts_differ"]) == (["b"], ["a"], ["x"], ["c"])
    assert cash["balanced"] is False and cash["ledger_count"] == 0  # nothing of that day in the ledger at all
    assert result["missing"] == ["b", "k"] and cash["missing"] == ["k"]


def test_equal_totals_with_a_double_still_do_not_balance():
    items = {("accepted", "d", "c"): [("a", 1), ("b", 1)], ("ledger", "d", "c"): [("a", 1), ("a", 1)]}
    result = reconcile([group("d", "c", 2, 2)], [group("d", "c", 2, 2, doubled=["a"])], lambda *k: items[k])
    assert result["balanced"] is False and result["missing"] == ["b"] and result["doubled"] == ["a"]
