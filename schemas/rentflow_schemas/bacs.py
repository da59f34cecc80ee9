"""Bacs codes, defined once for every service (docs/domain.md §3): ARUDD return reasons and what follows,
ADDACS and AUDDIS reason codes, DDICA indemnity claim reasons, Standard 18 transaction codes, and what
each mandate action does to a mandate. Pure tables and two normalising functions; no IO.

Sources: docs/domain.md §3 (ARUDD table, ADDACS codes); AUDDIS meanings as Access PaySuite and pt-x
publish them, with code 7 (DDI amount not zero) and C (details amended: the DDI stays live) from
Access PaySuite's AUDDIS guide and so-sure's BacsService; DDICA reasons 1–6 as Access PaySuite and
London & Zurich publish them. Real ARUDD return codes are four characters (e.g. `0128`, `1012`):
the first is the reason, the rest the paying bank's detail."""
from __future__ import annotations

from typing import Final, NamedTuple

# ---- ARUDD: unpaid Direct Debits --------------------------------------------------------------


class ReturnReason(NamedTuple):
    meaning: str
    action: str  # what rentflow and the officer do (docs/domain.md)
    mandate_state: str  # the mandate's state after the return
    may_represent: bool  # a re-presentation (code 18) may follow
    wording: str  # the returnDescription Bacs reports carry


ARUDD_REASONS: Final[dict[str, ReturnReason]] = {
    "0": ReturnReason("refer to payer (usually insufficient funds)",
                      "reverse; mandate stays live; task; may re-present (code 18) within one month, "
                      "notifying the payer 5 working days before", "live", True, "REFER TO PAYER"),
    "1": ReturnReason("instruction cancelled", "reverse; mandate cancelled; task: agree another way to pay",
                      "cancelled", False, "INSTRUCTION CANCELLED"),
    "2": ReturnReason("payer deceased", "reverse; mandate cancelled; task to the tenancy/bereavement process",
                      "cancelled", False, "PAYER DECEASED"),
    "3": ReturnReason("account transferred", "reverse; mandate suspended until a new one and a new advance notice",
                      "suspended", False, "ACCOUNT TRANSFERRED"),
    "4": ReturnReason("advance notice disputed", "reverse; hold collections until resolved", "held", False,
                      "ADVANCE NOTICE DISPUTED"),
    "5": ReturnReason("no account", "reverse; mandate cancelled; task", "cancelled", False, "NO ACCOUNT"),
    "6": ReturnReason("no instruction", "reverse; mandate cancelled; task: re-lodge after contact", "cancelled",
                      False, "NO INSTRUCTION"),
    "7": ReturnReason("amount differs", "reverse; task to investigate", "live", False, "AMOUNT DIFFERS"),
    "8": ReturnReason("amount not yet due", "reverse; task to investigate", "live", False, "AMOUNT NOT YET DUE"),
    "9": ReturnReason("presentation overdue", "reverse; task to investigate", "live", False, "PRESENTATION OVERDUE"),
    "A": ReturnReason("service user differs", "reverse; task to investigate", "live", False, "SERVICE USER DIFFERS"),
    "B": ReturnReason("account closed", "reverse; mandate cancelled; task: new mandate", "cancelled", False,
                      "ACCOUNT CLOSED"),
}
# A return whose code rentflow does not recognise: the bank still took the money back.
UNKNOWN_RETURN: Final = "unknown"
UNKNOWN_RETURN_REASON: Final = ReturnReason(
    "return reason not recognised (see the raw code)", "reverse; task to investigate the code", "live", False, "")
_BY_WORDING = {r.wording: code for code, r in ARUDD_REASONS.items()}


def return_reason(code: str) -> ReturnReason:
    """The reason for a normalised code (UNKNOWN_RETURN included); KeyError for anything else."""
    return UNKNOWN_RETURN_REASON if code == UNKNOWN_RETURN else ARUDD_REASONS[code]


def normalise_return_code(raw: str | None, description: str | None = None) -> str | None:
    """The ARUDD reason code ("0"–"9", "A", "B") of a report's returnCode, or None when it is not
    recognised. Accepts the real four-character codes (first character the reason: `0128` → 0,
    `1012` → 1), bureau-prefixed ones (`F21` → 1), zero-padded digits (`01` → 1) and the bare code;
    a code that is none of these is read from the returnDescription's Bacs wording when it has one."""
    c = (raw or "").strip().upper()
    if c in ARUDD_REASONS:
        return c
    if len(c) == 3 and c.startswith("F2"):
        c = c[2]
    elif len(c) == 2 and c.startswith("0"):
        c = c[1]
    elif len(c) == 4:
        c = c[0]
    if c in ARUDD_REASONS:
        return c
    return _BY_WORDING.get(" ".join((description or "").upper().split()))


# ---- ADDACS, AUDDIS: mandate advices ----------------------------------------------------------


class AdviceReason(NamedTuple):
    action: str  # MandateInstruction.action
    meaning: str


ADDACS_REASONS: Final[dict[str, AdviceReason]] = {
    "0": AdviceReason("cancelled", "instruction cancelled by paying bank"),
    "1": AdviceReason("cancelled", "instruction cancelled by payer"),
    "2": AdviceReason("deceased", "payer deceased"),
    "3": AdviceReason("transferred", "account transferred to a new bank: amend details, lodge 0N, do not send 0C"),
    "B": AdviceReason("closed", "account closed"),
    "C": AdviceReason("amended", "account moved to another branch: details amended, collections carry on"),
    "D": AdviceReason("disputed", "advance notice disputed"),
    "E": AdviceReason("amended", "instruction amended"),
    "R": AdviceReason("reinstated", "instruction reinstated"),
}
# An advice whose code is not in the table: a person reads it, collections held meanwhile.
UNKNOWN_ADVICE_ACTION: Final = "query"

# Bank-returned AUDDIS advices: every code is a lodged instruction (0N/0C/0S) the paying bank did not
# accept, except C, where it amended the details and the instruction is live.
AUDDIS_REASONS: Final[dict[str, AdviceReason]] = {
    "1": AdviceReason("rejected", "instruction cancelled by payer"),
    "2": AdviceReason("rejected", "payer deceased"),
    "3": AdviceReason("rejected", "account transferred to another bank"),
    "5": AdviceReason("rejected", "no account"),
    "6": AdviceReason("rejected", "no instruction"),
    "7": AdviceReason("rejected", "DDI amount not zero"),
    "B": AdviceReason("rejected", "account closed"),
    "C": AdviceReason("amended", "account transferred to a different branch: details amended, instruction live"),
    "F": AdviceReason("rejected", "invalid account type"),
    "G": AdviceReason("rejected", "bank will not accept Direct Debits on this account"),
    "H": AdviceReason("rejected", "instruction has expired"),
    "I": AdviceReason("rejected", "payer reference is not unique"),
    "K": AdviceReason("rejected", "instruction cancelled by paying bank"),
    "L": AdviceReason("rejected", "incorrect payer account details"),
    "M": AdviceReason("rejected", "transaction code / user status incompatible"),
    "N": AdviceReason("rejected", "transaction disallowed at payer's branch"),
    "O": AdviceReason("rejected", "invalid reference"),
    "P": AdviceReason("rejected", "payer's name not present"),
    "Q": AdviceReason("rejected", "service user's name is blank"),
}
# An AUDDIS advice with a code not above is still a bank rejection of the lodged instruction.
UNKNOWN_AUDDIS_ACTION: Final = "rejected"

# File-level AUDDIS reports on a whole lodgement (a Bacs submission of 0N/0C/0S records).
LODGEMENT_ACCEPTED: Final = "lodgement_accepted"  # advice-type AUDACC, record-type V
LODGEMENT_REJECTED: Final = "lodgement_rejected"  # advice-type AUDREJ, record-type R: none of it is live


# ---- What a mandate action does to the mandate ------------------------------------------------

class MandateEffect(NamedTuple):
    state: str  # live | cancelled | suspended | held | pending
    needs_person: bool


MANDATE_ACTIONS: Final[dict[str, MandateEffect]] = {
    "new": MandateEffect("live", False),  # 0N lodged
    "converted": MandateEffect("live", False),  # 0S paper instruction converted
    "amended": MandateEffect("live", False),  # ADDACS C/E, AUDDIS C: details amended, collections carry on
    "reinstated": MandateEffect("live", False),  # ADDACS R
    "cancelled": MandateEffect("cancelled", True),  # ADDACS 0/1, Bacs 0C
    "deceased": MandateEffect("cancelled", True),  # ADDACS 2
    "closed": MandateEffect("cancelled", True),  # ADDACS B
    "transferred": MandateEffect("pending", True),  # ADDACS 3: new bank details, lodge 0N, no 0C
    "disputed": MandateEffect("held", True),  # ADDACS D
    "rejected": MandateEffect("cancelled", True),  # AUDDIS: the instruction never became live
    UNKNOWN_ADVICE_ACTION: MandateEffect("held", True),  # a code rentflow does not know
    # the lodgement's instructions (found by lodgement_serial) are live, or none of them is
    LODGEMENT_ACCEPTED: MandateEffect("live", False),
    LODGEMENT_REJECTED: MandateEffect("pending", True),
}


# ---- DDICA: indemnity claims ------------------------------------------------------------------

class ClaimReason(NamedTuple):
    return_code: str  # the ARUDD code whose follow-up fits: a claim is always an unpaid (docs/domain.md)
    meaning: str


DDICA_REASONS: Final[dict[str, ClaimReason]] = {
    "1": ClaimReason("7", "amount or date differ from the advance notice"),
    "2": ClaimReason("4", "no advance notice received, or the amount is disputed"),
    "3": ClaimReason("1", "instruction cancelled by the paying bank"),
    "4": ClaimReason("1", "payer cancelled the instruction with the service user"),
    "5": ClaimReason("6", "no instruction held: payer disputes having given authority"),
    "6": ClaimReason("6", "signature on the instruction is not the account holder's"),
}


# ---- Standard 18 transaction codes ------------------------------------------------------------

COLLECTIONS: Final[dict[str, str]] = {"01": "first collection", "17": "regular collection",
                                      "18": "re-presentation", "19": "final collection"}
INSTRUCTIONS: Final[dict[str, AdviceReason]] = {
    "0N": AdviceReason("new", "new instruction lodged (AUDDIS 0N)"),
    "0C": AdviceReason("cancelled", "instruction cancelled by the service user (0C)"),
    "0S": AdviceReason("converted", "paper instruction converted (0S)"),
}
DIRECT_CREDIT: Final = "99"
