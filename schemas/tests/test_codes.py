"""The shared transaction-code table: every channel has a receipt code, every code the ledger
names is in the table, and docs/domain.md lists every code the table has."""
from pathlib import Path

from rentflow_schemas.codes import CODES, RECEIPT_CODE_OF_CHANNEL, Kind, codes_of, kind_of
from rentflow_schemas.common import Channel

DOMAIN = Path(__file__).resolve().parents[2] / "docs" / "domain.md"


def test_every_channel_has_one_receipt_code_of_kind_receipt() -> None:
    assert set(RECEIPT_CODE_OF_CHANNEL) == {c.value for c in Channel}
    for channel, code in RECEIPT_CODE_OF_CHANNEL.items():
        assert CODES[code].kind is Kind.RECEIPT and CODES[code].channel == channel
    assert RECEIPT_CODE_OF_CHANNEL["cash"] == "RPY"  # RCO (cash office) is counted as cash, not posted by channel


def test_the_ledgers_named_codes_are_in_the_table() -> None:
    from rentflow_ledger.domain import codes

    named = {codes.RENT_CODE, codes.CHARGES_CODE, codes.OPENING_BALANCE_CODE, codes.DD_UNPAID_CODE,
             codes.REFUND_CODE, codes.RETURNED_PAYMENT_CODE, codes.WRITE_OFF_CODE, codes.TRANSFER_CODE,
             codes.WRITE_ON_CODE, *codes.REVERSAL_CODES.values(), *codes.CHANNEL_CODES.values()}
    assert named <= set(CODES)
    assert kind_of(codes.RENT_CODE) is Kind.DEBIT and kind_of(codes.OPENING_BALANCE_CODE) is Kind.OPENING
    assert kind_of("XYZ") is None


def test_domain_notes_list_every_code() -> None:
    text = DOMAIN.read_text()
    assert all(f"`{code}`" in text for code in CODES if code != "BBF")
    assert "`BBF`" in text
    assert codes_of(Kind.DEBIT) == {"DBR", "DSC", "DHE", "DWR", "DGA", "DCI", "DCC", "DRR"}
