"""Bacs reason and transaction codes (docs/domain.md §3): what each means for intake. Pure tables."""
from __future__ import annotations

ARUDD_CODES = {"0": "refer to payer", "1": "instruction cancelled", "2": "payer deceased",
               "3": "account transferred", "4": "advance notice disputed", "5": "no account",
               "6": "no instruction", "7": "amount differs", "8": "amount not yet due",
               "9": "presentation overdue", "A": "service user differs", "B": "account closed"}


def normalise_return_code(code: str | None) -> str:
    """An ARUDD return code as the schema has it: "0"–"9", "A", "B". Accepts the prefixed
    variants some bureaux send ("F21" for 1, as the ledger does) and zero-padded digits ("01")."""
    c = (code or "").strip().upper()
    if len(c) == 3 and c.startswith("F2"):
        c = c[2]
    elif len(c) == 2 and c.startswith("0"):
        c = c[1]
    if c not in ARUDD_CODES:
        raise ValueError(f"returnCode: unknown ARUDD return code {code!r} (known: 0–9, A, B, or F20–F2B)")
    return c


# ADDACS reason code → (MandateInstruction.action, meaning). docs/domain.md §3.
ADDACS = {
    "0": ("cancelled", "instruction cancelled by paying bank"),
    "1": ("cancelled", "instruction cancelled by payer"),
    "2": ("deceased", "payer deceased"),
    "3": ("transferred", "account transferred to a new bank: amend details, lodge 0N, do not send 0C"),
    "B": ("closed", "account closed"),
    "C": ("amended", "account moved to another branch: details amended, collections carry on"),
    "D": ("disputed", "advance notice disputed"),
    "E": ("amended", "instruction amended"),
    "R": ("reinstated", "instruction reinstated"),
}

# AUDDIS rejection reasons (docs/domain.md lists the codes; meanings as Bacs publishes them). Every one
# is a rejected lodgement: the instruction never became live and a person must act.
AUDDIS = {
    "1": "instruction cancelled by payer", "2": "payer deceased", "3": "account transferred",
    "5": "no account", "6": "no instruction", "B": "account closed",
    "C": "account transferred to a new bank or branch", "F": "invalid account type",
    "G": "bank will not accept Direct Debits on this account", "H": "instruction has expired",
    "I": "payer reference is not unique", "K": "instruction cancelled by paying bank",
    "L": "incorrect payer account details", "M": "transaction code / user status incompatible",
    "N": "transaction disallowed at payer's branch", "O": "invalid reference",
    "P": "payer's name not present", "Q": "service user's name is blank",
}

# DDICA (indemnity claim) reason → the ARUDD code the ledger handles it as, and its meaning. A claim
# is always an unpaid (docs/domain.md); the mapping picks the ARUDD code whose follow-up fits.
DDICA = {
    "1": ("7", "amount or date differ from the advance notice"),
    "2": ("4", "no advance notice received, or the amount is disputed"),
    "3": ("1", "instruction cancelled by the paying bank"),
    "4": ("1", "payer cancelled the instruction with the service user"),
    "5": ("6", "no instruction held: payer disputes having given authority"),
    "6": ("6", "signature on the instruction is not the account holder's"),
}

# Standard 18 transaction codes.
COLLECTIONS = {"01": "first collection", "17": "regular collection", "18": "re-presentation",
               "19": "final collection"}
INSTRUCTIONS = {"0N": ("new", "new instruction lodged (AUDDIS 0N)"),
                "0C": ("cancelled", "instruction cancelled by the service user (0C)"),
                "0S": ("converted", "paper instruction converted (0S)")}
DIRECT_CREDIT = "99"
