"""Which refund bounced (domain/outgoing.py)."""
from __future__ import annotations

import datetime as dt
import uuid

from rentflow_ledger.domain.outgoing import Refund, find_refund

DAY = dt.date(2026, 5, 1)
A = Refund(uuid.UUID("3f2a9c41-0000-4000-8000-000000000001"), "10000001", 12_000, DAY)
B = Refund(uuid.UUID("7b1e0d22-0000-4000-8000-000000000002"), "10000002", 5_000, DAY)
C = Refund(uuid.UUID("9c3d5e66-0000-4000-8000-000000000003"), "10000002", 5_000, DAY)


def test_found_by_the_refund_id_finance_quoted():
    assert find_refund(12_000, "REFUND-3F2A9C41", None, [A, B]) == (A, "refund id")
    assert find_refund(12_000, None, f"rtn {A.request_id}", [A, B]) == (A, "refund id")


def test_found_by_account_reference_and_exact_amount_when_only_one_refund_fits():
    assert find_refund(12_000, "NOTPROVIDED", "RENT REFUND 1000-0001", [A, B]) == (A, "account reference and amount")
    assert find_refund(11_000, None, "RENT REFUND 10000001", [A, B])[0] is None  # another amount


def test_two_equal_refunds_on_one_account_or_one_already_returned():
    refund, why = find_refund(5_000, None, "10000002", [B, C])
    assert refund is None and why == "more than one refund fits"
    assert find_refund(5_000, None, "10000002", [B, C], returned=[B.request_id]) == (C, "account reference and amount")


def test_nothing_fits():
    assert find_refund(100, "E2E-XYZ", "SUPPLIER PAYMENT", [A, B]) == (
        None, "no refund the ledger made fits its references and amount")
