"""Transaction codes (docs/domain.md §2 "Transaction codes"): what each posting is. The one table
the ledger posts by and reporting counts by, so a new code or channel is added here once."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Mapping


class Kind(str, Enum):
    """What a posting is, whatever its code."""
    DEBIT = "debit"  # rent and charges due
    RECEIPT = "receipt"  # money received
    OPENING = "opening"  # balance brought forward when the account was loaded
    DD_UNPAID = "dd_unpaid"  # a Direct Debit collection returned unpaid (ARUDD)
    RETURNED = "returned"  # a credit the bank took back
    REFUND = "refund"  # money paid back to the tenant
    WRITE_OFF = "write_off"
    ADJUSTMENT = "adjustment"  # a maker-checker adjustment, debit or credit
    TRANSFER = "transfer"  # between two rent accounts


@dataclass(frozen=True, slots=True)
class TransactionCode:
    code: str
    kind: Kind
    description: str  # as officers and auditors read it
    label: str  # on a tenant's statement
    channel: str | None = None  # receipts (and DHB, the HB credit taken back): the channel the money came by


CODES: Mapping[str, TransactionCode] = MappingProxyType({c.code: c for c in [
    TransactionCode("DBR", Kind.DEBIT, "basic rent", "Rent"),
    TransactionCode("DSC", Kind.DEBIT, "service charge", "Service charge"),
    TransactionCode("DHE", Kind.DEBIT, "heating", "Heating"),
    TransactionCode("DWR", Kind.DEBIT, "water rates", "Water rates"),
    TransactionCode("DGA", Kind.DEBIT, "garage", "Garage"),
    TransactionCode("DCI", Kind.DEBIT, "contents insurance", "Contents insurance"),
    TransactionCode("DCC", Kind.DEBIT, "court costs", "Court costs"),
    TransactionCode("DRR", Kind.DEBIT, "rechargeable repairs", "Rechargeable repairs"),
    TransactionCode("RDD", Kind.RECEIPT, "Direct Debit", "Direct Debit", "direct_debit"),
    TransactionCode("RSO", Kind.RECEIPT, "standing order", "Standing order", "standing_order"),
    TransactionCode("RBP", Kind.RECEIPT, "bank payment", "Bank payment", "bank_transfer"),
    TransactionCode("RCP", Kind.RECEIPT, "card", "Card payment", "card"),
    TransactionCode("RPY", Kind.RECEIPT, "PayPoint / Post Office", "PayPoint / Post Office", "cash"),
    TransactionCode("RCO", Kind.RECEIPT, "cash office", "Cash office", "cash"),
    TransactionCode("RHB", Kind.RECEIPT, "Housing Benefit", "Housing Benefit", "housing_benefit"),
    TransactionCode("RUC", Kind.RECEIPT, "Universal Credit paid direct", "Universal Credit", "universal_credit"),
    TransactionCode("BBF", Kind.OPENING, "balance brought forward", "Balance brought forward"),
    TransactionCode("RDN", Kind.DD_UNPAID, "Direct Debit unpaid (ARUDD)", "Direct Debit unpaid"),
    TransactionCode("RRC", Kind.RETURNED, "returned cheque / payment", "Returned cheque"),
    # an overpaid rent rebate recovered from the rent account: the RHB credit taken back (HB clearing)
    TransactionCode("DHB", Kind.RETURNED, "Housing Benefit overpayment recovered", "Housing Benefit overpaid",
                    "housing_benefit"),
    TransactionCode("REF", Kind.REFUND, "refund to the tenant", "Refund to tenant"),
    TransactionCode("RDR", Kind.REFUND, "Bacs refund", "Bacs refund"),
    TransactionCode("WOF", Kind.WRITE_OFF, "write-off", "Write-off"),
    TransactionCode("WON", Kind.ADJUSTMENT, "write-on", "Adjustment"),  # every maker-checker adjustment, debit or credit
    TransactionCode("RIT", Kind.TRANSFER, "internal transfer", "Transfer between accounts"),
]})

# The code a receipt by each channel is posted with (cash comes by PayPoint/Post Office: RPY).
RECEIPT_CODE_OF_CHANNEL: Mapping[str, str] = MappingProxyType(
    {c.channel: c.code for c in reversed(CODES.values()) if c.kind is Kind.RECEIPT and c.channel})

# allocation_rule of a receipt an officer allocated by hand from suspense
MANUAL_ALLOCATION = "manual"


def codes_of(kind: Kind) -> frozenset[str]:
    return frozenset(c.code for c in CODES.values() if c.kind is kind)


def kind_of(code: str) -> Kind | None:
    c = CODES.get(code)
    return c.kind if c is not None else None
