"""What a tenant's letter says, as plain data: the adapters turn a Letter into HTML and PDF. Pure.

Letters never carry bank details (the payer's sort code or account number are never known here)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from rentflow_notifications.domain.dd_tasks import code_rule
from rentflow_notifications.domain.notice_dates import NoticeRules, statutory_rule
from rentflow_notifications.domain.tasks import format_pence

RENT_REVIEW = "rent_review"
DD_FAILURE = "dd_failure"


@dataclass(frozen=True)
class Landlord:
    name: str = "Rent Accounts Team"
    address: tuple[str, ...] = ()
    phone: str = ""
    email: str = ""

    def contact(self) -> str:
        ways = [w for w in (f"phone {self.phone}" if self.phone else "", f"email {self.email}" if self.email else "")
                if w]
        return f"Please contact the {self.name}" + (f" ({' or '.join(ways)})" if ways else "") + "."


@dataclass(frozen=True)
class Letter:
    notice_id: uuid.UUID
    kind: str
    account_ref: str
    letter_date: dt.date
    addressee: str
    address: tuple[str, ...]
    subject: str
    paragraphs: tuple[str, ...]
    table: tuple[tuple[str, ...], ...] = ()  # first row is the header
    after_table: tuple[str, ...] = ()
    sender: tuple[str, ...] = field(default_factory=tuple)

    def file_stem(self) -> str:
        return f"{self.account_ref}-{self.notice_id.hex[:12]}"


def long_date(day: dt.date) -> str:
    return f"{day.strftime('%A')} {day.day} {day.strftime('%B %Y')}"


def _sender(landlord: Landlord) -> tuple[str, ...]:
    return ("Yours sincerely,", "", landlord.name, *landlord.address)


@dataclass(frozen=True)
class RentChange:
    notice_id: uuid.UUID
    account_ref: str
    tenant_name: str
    property: str
    old_rent_pence: int
    new_rent_pence: int
    old_charges_pence: int
    new_charges_pence: int
    effective_on: dt.date
    reason: str
    dd_payer: bool

    @property
    def old_weekly_pence(self) -> int:
        return self.old_rent_pence + self.old_charges_pence

    @property
    def new_weekly_pence(self) -> int:
        return self.new_rent_pence + self.new_charges_pence


def rent_review_letter(c: RentChange, letter_date: dt.date, served_on: dt.date, rules: NoticeRules,
                       landlord: Landlord) -> Letter:
    """A notice of variation (Housing Act 1985 s.102(1)(b), s.103, or the assured equivalent): the
    new rent, the date it takes effect, and what a notice to quit does."""
    when = long_date(c.effective_on)
    paragraphs = [
        f"This is a notice of variation of the rent for {c.property} (rent account {c.account_ref}). "
        f"From {when} your weekly rent and charges change as shown below.",
        f"Why: {c.reason}.",
    ]
    if rules.tenancy == "secure":
        paragraphs.append(
            "We give this notice under section 103 of the Housing Act 1985. If you give us a valid notice to "
            f"quit before {when}, this variation will not take effect (unless, with our written agreement, you "
            "withdraw your notice to quit before that date).")
    else:
        paragraphs.append(f"We give this notice under your tenancy agreement and section 13 of the Housing Act 1988 "
                          f"({statutory_rule(rules)}).")
    paragraphs.append(f"This notice is dated {long_date(letter_date)}; we treat it as served on "
                      f"{long_date(served_on)}.")
    after = []
    if c.dd_payer:
        after.append(
            f"You pay by Direct Debit. This letter is also your advance notice under the Direct Debit Guarantee: "
            f"collections due on or after {when} will be for the new amount of {format_pence(c.new_weekly_pence)} "
            f"a week (the same weekly amount spread over your usual collection dates). You do not need to do "
            f"anything.")
    after.append("If you receive Housing Benefit or the housing element of Universal Credit, please tell them "
                 "about the new rent.")
    after.append(landlord.contact().replace("Please contact", "If you have any questions, please contact"))
    table = (("", "now (a week)", f"from {c.effective_on.day} {c.effective_on.strftime('%B %Y')}"),
             ("Rent", format_pence(c.old_rent_pence), format_pence(c.new_rent_pence)),
             ("Service and other charges", format_pence(c.old_charges_pence), format_pence(c.new_charges_pence)),
             ("Total a week", format_pence(c.old_weekly_pence), format_pence(c.new_weekly_pence)))
    return Letter(c.notice_id, RENT_REVIEW, c.account_ref, letter_date, c.tenant_name or "The Tenant",
                  (c.property,) if c.property else (), "Notice of variation of rent", tuple(paragraphs), table,
                  tuple(after), _sender(landlord))


@dataclass(frozen=True)
class ReturnedDebit:
    notice_id: uuid.UUID
    account_ref: str
    payer_name: str
    property: str
    amount_pence: int
    return_code: str
    original_processing_date: dt.date


def dd_failure_letter(d: ReturnedDebit, letter_date: dt.date, represent_on: dt.date | None,
                      landlord: Landlord) -> Letter:
    """To the payer (who may not be the tenant): the amount, what happened in plain words, and what
    happens next: the re-presentation date (code 0, in time) with this letter as its notice, or
    paying another way."""
    amount = format_pence(d.amount_pence)
    rule = code_rule(d.return_code)
    paragraphs = [
        f"The Direct Debit payment of {amount} for rent account {d.account_ref}, which we asked your bank for on "
        f"{long_date(d.original_processing_date)}, has been returned unpaid: {rule.plain_words}.",
        f"This means {amount} has not been paid and is owing on the rent account.",
    ]
    if represent_on is not None:
        paragraphs.append(
            f"We will ask your bank for the {amount} again on {long_date(represent_on)}. Please make sure the "
            f"money is in your account by then. This letter is your notice of that collection. If you cannot "
            f"pay it then, or would rather pay another way, contact us before that date.")
    elif d.return_code == "0":
        paragraphs.append(f"It is now too late for us to ask your bank for it again, so please pay {amount} "
                          f"another way as soon as you can.")
    else:
        paragraphs.append(f"We cannot collect this payment by Direct Debit, so please pay {amount} another way "
                          f"as soon as you can, and contact us to agree how you will pay your rent from now on.")
    paragraphs.append(landlord.contact())
    return Letter(d.notice_id, DD_FAILURE, d.account_ref, letter_date, d.payer_name or "The Account Holder",
                  (d.property,) if d.property else (), "Your Direct Debit payment was returned unpaid",
                  tuple(paragraphs), sender=_sender(landlord))
