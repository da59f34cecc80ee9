"""Transaction codes (docs/domain.md §2) and the GL codes journals post to (docs/domain.md §6).

GL codes live in this one dict so a landlord's chart of accounts can be mapped in one place:
RENTFLOW_GL_CODES="debtors_control=1210,bank=0100,income.DBR=4010" replaces the codes named
(set it before the first posting: journals keep the codes they were posted with)."""
from __future__ import annotations

from typing import Final

from rentflow_schemas.codes import RECEIPT_CODE_OF_CHANNEL

# Payment channel → receipt transaction code (the shared table: rentflow_schemas.codes).
CHANNEL_CODES: Final = RECEIPT_CODE_OF_CHANNEL

RENT_CODE: Final = "DBR"
CHARGES_CODE: Final = "DSC"
OPENING_BALANCE_CODE: Final = "BBF"
DD_UNPAID_CODE: Final = "RDN"  # Direct Debit unpaid (ARUDD)
REFUND_CODE: Final = "REF"
RETURNED_PAYMENT_CODE: Final = "RRC"  # a returned payment: the bank took a credit back
# payments.reversed.v1 kind → the code posted (docs/domain.md §2 reversals and refunds)
BENEFIT_RECOVERED_CODE: Final = "DHB"  # an overpaid Housing Benefit rebate recovered (a debit, HB clearing)
REVERSAL_CODES: Final[dict[str, str]] = {"returned": RETURNED_PAYMENT_CODE, "refund": REFUND_CODE,
                                         "benefit_recovered": BENEFIT_RECOVERED_CODE}
WRITE_OFF_CODE: Final = "WOF"
TRANSFER_CODE: Final = "RIT"  # internal transfer, on both accounts
WRITE_ON_CODE: Final = "WON"  # a debit adjustment

GL_CODES: Final[dict[str, str]] = {
    "debtors_control": "DEBTORS_CONTROL",  # tenant (rent) debtors control
    "bank": "BANK",
    "cash": "CASH",  # cash control: PayPoint / Post Office / allpay
    "suspense": "SUSPENSE",  # income suspense: receipts not yet identified
    # Housing Benefit rent rebates: a transfer from the council's benefits system, not bank money
    "benefits_clearing": "HB_CLEARING",
    "opening_balances": "OPENING_BALANCES",  # balances brought forward at import
    "bad_debt_provision": "BAD_DEBT_PROVISION",
    "adjustments": "INCOME_ADJUSTMENTS",  # other side of write-ons and credit adjustments
    "card_fees": "CARD_FEES",  # expense: the card provider's fees taken out of its payouts
    "income.DBR": "INCOME_DBR",
    "income.DSC": "INCOME_DSC",
    "income.DHE": "INCOME_DHE",
    "income.DWR": "INCOME_DWR",
    "income.DGA": "INCOME_DGA",
    "income.DCI": "INCOME_DCI",
    "income.DCC": "INCOME_DCC",
    "income.DRR": "INCOME_DRR",
    "income.WON": "INCOME_WON",
}


def parse_gl_codes(text: str, known: dict[str, str]) -> dict[str, str]:
    """`side=code,side=code` → the mapping, refusing unknown sides and blank or repeated codes."""
    mapping: dict[str, str] = {}
    for n, part in enumerate((p.strip() for p in text.split(",")), 1):
        if not part:
            continue
        side, eq, code = part.partition("=")
        side, code = side.strip(), code.strip()
        if not eq or side not in known:
            raise ValueError(f"RENTFLOW_GL_CODES item {n} ({part!r}): expected SIDE=CODE with SIDE one of "
                             f"{', '.join(known)}")
        if not code or any(c.isspace() for c in code):
            raise ValueError(f"RENTFLOW_GL_CODES item {n} ({part!r}): the GL code must be non-blank, no spaces")
        mapping[side] = code
    codes = {**known, **mapping}
    if len(set(codes.values())) != len(codes):
        twice = sorted({c for c in codes.values() if list(codes.values()).count(c) > 1})
        raise ValueError(f"RENTFLOW_GL_CODES: each side needs its own GL code; used twice: {', '.join(twice)}")
    return mapping


DEFAULT_GL_CODES = dict(GL_CODES)


def use_gl_codes(text: str) -> None:
    """The landlord's chart of accounts (RENTFLOW_GL_CODES), applied once when the service starts."""
    GL_CODES.clear()
    GL_CODES.update(DEFAULT_GL_CODES)
    GL_CODES.update(parse_gl_codes(text, DEFAULT_GL_CODES))


def receipt_code(channel: str) -> str:
    try:
        return CHANNEL_CODES[channel]
    except KeyError:
        raise ValueError(f"no receipt code for channel {channel!r}") from None


def income_gl(code: str) -> str:
    try:
        return GL_CODES[f"income.{code}"]
    except KeyError:
        raise ValueError(f"no income GL code for transaction code {code!r}") from None


def money_in_gl(channel: str) -> str:
    """Where the money came from: the cash control for cash channels, the benefits clearing account
    for Housing Benefit (a rent rebate is a transfer from the benefits system, never the bank:
    docs/domain.md §3), otherwise the bank (Universal Credit managed payments are bank money)."""
    if channel == "cash":
        return GL_CODES["cash"]
    if channel == "housing_benefit":
        return GL_CODES["benefits_clearing"]
    return GL_CODES["bank"]
