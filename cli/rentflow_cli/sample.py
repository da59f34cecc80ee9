"""A sample landlord for the demo and the benchmarks: plain data, no IO.

5,000 homes by default, weekly rent and charges averaging about £123, about a third paying
by Direct Debit, some former tenants, and the payments of October 2026's rent weeks from every
channel, including some with references nobody can match (they go to suspense).

Opening balances are as at Sunday 27 September, so the demo charges five rent weeks: those of
Monday 28 September to Monday 26 October. The payments cover exactly those weeks, as a month of
a real rent roll would: weekly payers (standing order, card, cash, Housing Benefit) pay each week
in that week, so the week of 28 September is paid on 28–30 September; monthly payers (Direct
Debit, Universal Credit) pay 52/12 weeks in October and start a week in credit, because their
September instalment paid for the week of 28 September ahead. So only tenants who were already
behind (about 7%), plus those whose Direct Debit comes back unpaid or whose payment lands in
suspense, end the month in arrears: about 9% of current tenancies."""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
from dataclasses import dataclass
from typing import Any

MONTH_START = dt.date(2026, 10, 1)
MONTH_END = dt.date(2026, 10, 31)
BALANCE_DATE = dt.date(2026, 9, 27)  # a Sunday: debits start with the rent week of Monday 28 September
# The rent weeks the demo charges (their Mondays): after the balance date, up to the month's end.
RENT_WEEKS = [BALANCE_DATE + dt.timedelta(days=1 + 7 * n) for n in range(5)]
PAYMENTS_FROM = RENT_WEEKS[0]  # weekly payers pay the week of 28 September in that week
MONTHLY_METHODS = ("dd", "uc")  # pay 52/12 weeks a month; the others pay week by week
PATCHES = ["N1", "N2", "S1", "S2", "E1", "W1"]
OFFICERS = [("Asha Patel", "N1"), ("Ben Carter", "N2"), ("Chloe Evans", "S1"),
            ("Dan Hughes", "S2"), ("Ella Morgan", "E1"), ("Femi Adeyemi", "W1")]
MANAGER = "Grace Lewis"
STREETS = ["Oak Road", "Mill Lane", "Church Street", "Station Road", "Park View", "Victoria Close",
           "Harbour Walk", "Elm Grove", "Kingsway", "Meadow Court"]
FIRST = ["Alex", "Sam", "Jo", "Chris", "Pat", "Jamie", "Robin", "Kim", "Lee", "Morgan", "Ali", "Nia"]
LAST = ["Smith", "Jones", "Williams", "Brown", "Taylor", "Davies", "Evans", "Khan", "Wilson", "Roberts"]
WEIGHTS = (8, 7, 6, 5, 4, 3, 2)


def check_digit(base: str) -> str:
    """Weighted-sum modulus 10 (docs/domain.md §2): check = 10 - (sum of d*w mod 10), 10 -> 0."""
    total = sum(int(d) * w for d, w in zip(base, WEIGHTS))
    return str((10 - total % 10) % 10)


def rent_ref(n: int) -> str:
    base = f"{1000000 + n:07d}"
    return base + check_digit(base)


@dataclass(frozen=True)
class Account:
    ref: str
    tenant: str
    property: str
    patch: str
    tenancy_start: dt.date
    tenancy_end: dt.date | None
    weekly_rent: int
    weekly_charges: int
    method: str
    opening_balance: int

    @property
    def weekly_total(self) -> int:
        return self.weekly_rent + self.weekly_charges

    @property
    def dd_reference(self) -> str:
        return f"RF{self.ref}" if self.method == "dd" else ""


@dataclass(frozen=True)
class Payment:
    provider: str
    body: dict[str, Any]


def accounts(n: int = 5000, seed: int = 2026) -> list[Account]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rent = int(rng.triangular(9200, 15400, 11000))
        charges = rng.choice([0, 0, 0, 0, 0, 650, 1240, 1875])
        former = rng.random() < 0.03
        start = dt.date(2026, 10, 12) if rng.random() < 0.01 else dt.date(2008, 4, 7) + dt.timedelta(days=rng.randrange(6500))
        end = dt.date(2026, 6, 28) - dt.timedelta(days=7 * rng.randrange(60)) if former else None
        if end and end <= start:
            start = end - dt.timedelta(days=700)
        method = rng.choices(["dd", "so", "card", "cash", "hb", "uc"], weights=[37, 14, 13, 8, 16, 12])[0]
        arrears_roll = rng.random()
        if former:
            opening = rng.randrange(5000, 250000)
        elif start > BALANCE_DATE:
            opening = 0
        else:
            if arrears_roll < 0.07:  # a few hundred in arrears, most by a week or three, a third over seven
                opening = (rent + charges) * round(rng.triangular(1, 16, 2)) + rng.randrange(0, 5000)
            elif arrears_roll < 0.12:
                opening = -rng.randrange(500, 25000)  # in credit
            else:
                opening = 0
            if method in MONTHLY_METHODS:  # September's instalment paid the week of 28 September ahead
                opening -= rent + charges
        out.append(Account(
            ref=rent_ref(i + 1), tenant=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            property=f"{rng.randrange(1, 220)} {rng.choice(STREETS)}", patch=PATCHES[i % len(PATCHES)],
            tenancy_start=start, tenancy_end=end, weekly_rent=rent, weekly_charges=charges,
            method=method, opening_balance=opening,
        ))
    return out


def accounts_csv(accs: list[Account]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["account_ref", "tenant_name", "property", "patch", "tenancy_start", "tenancy_end",
                "weekly_rent_pence", "weekly_charges_pence", "payment_method", "dd_reference", "officer",
                "opening_balance_pence", "balance_date"])
    for a in accs:
        balance_date = "" if a.tenancy_start > BALANCE_DATE else BALANCE_DATE.isoformat()
        w.writerow([a.ref, a.tenant, a.property, a.patch, a.tenancy_start.isoformat(),
                    a.tenancy_end.isoformat() if a.tenancy_end else "", a.weekly_rent, a.weekly_charges,
                    a.method, a.dd_reference, "", a.opening_balance, balance_date])
    return buf.getvalue()


CHANNEL_PROVIDER = {"direct_debit": "demo-bacs", "standing_order": "demo-bank", "bank_transfer": "demo-bank",
                    "housing_benefit": "demo-bank", "universal_credit": "demo-bank", "card": "demo-card",
                    "cash": "demo-paypoint"}
PROVIDERS = sorted(set(CHANNEL_PROVIDER.values()))


def october_payments(accs: list[Account], seed: int = 2026) -> list[Payment]:
    """The payments for the rent weeks the demo charges (RENT_WEEKS: 28 September to 1 November),
    in the order they arrive (by paid_at)."""
    rng = random.Random(seed + 1)
    payments: list[tuple[dt.datetime, str, dict[str, Any]]] = []
    counter = 0

    def pay(day: dt.date, channel: str, amount: int, reference: str, payer: str, hour: int = 9) -> None:
        nonlocal counter
        counter += 1
        paid_at = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), dt.timezone.utc)
        provider = CHANNEL_PROVIDER[channel]
        body = {"provider_ref": f"{provider}-{day:%Y%m%d}-{counter:07d}", "channel": channel,
                "amount_pence": max(1, amount), "currency": "GBP", "paid_at": paid_at.isoformat(),
                "reference": reference, "payer_name": payer}
        payments.append((paid_at, provider, body))

    for a in accs:
        if a.tenancy_end is not None:
            if rng.random() < 0.05:  # a former tenant paying something off
                pay(MONTH_START + dt.timedelta(days=rng.randrange(31)), "card", rng.randrange(1000, 5000),
                    a.ref, a.tenant, 14)
            continue
        in_arrears = a.opening_balance > 0
        share = rng.choice([0.0, 0.5, 0.8, 1.0, 1.1]) if in_arrears else 1.0
        weeks_due = [m for m in RENT_WEEKS if m >= a.tenancy_start]
        if not weeks_due or share == 0.0:
            continue
        weekly = int(a.weekly_total * share)
        monthly = int(a.weekly_total * 52 // 12 * share)
        if a.method == "dd":
            day = rng.choice([dt.date(2026, 10, 1), dt.date(2026, 10, 15), dt.date(2026, 10, 28)])
            pay(day, "direct_debit", monthly, a.dd_reference, a.tenant, 6)
        elif a.method == "so":  # every Monday, the day the week's rent is due
            ref = messy_reference(rng, a.ref)
            for m in weeks_due:
                pay(m, "standing_order", weekly, ref, a.tenant, 7)
        elif a.method == "card":  # every other week, for two weeks (the last for what is left)
            for n in range(0, len(weeks_due), 2):
                weeks = min(2, len(weeks_due) - n)
                pay(weeks_due[n] + dt.timedelta(days=rng.randrange(3)), "card", weekly * weeks,
                    messy_reference(rng, a.ref), a.tenant, 12)
        elif a.method == "cash":  # at the shop early in each week
            for m in weeks_due:
                pay(m + dt.timedelta(days=rng.randrange(3)), "cash", weekly, a.ref, a.tenant, 16)
        elif a.method == "hb":  # the council's rent rebate, credited each week on its Monday
            for m in weeks_due:
                pay(m, "housing_benefit", weekly, a.ref, "DISTRICT COUNCIL HB", 5)
        else:  # universal credit: the landlord gets a managed payment, the tenant pays the rest by transfer
            managed = monthly * 7 // 10
            pay(dt.date(2026, 10, 20), "universal_credit", managed, a.ref, "DWP UC", 5)
            pay(dt.date(2026, 10, 21), "bank_transfer", monthly - managed,
                free_text_reference(rng, a.ref), a.tenant, 18)
    payments.sort(key=lambda p: p[0])
    return [Payment(provider, body) for _, provider, body in payments]


def messy_reference(rng: random.Random, ref: str) -> str:
    """How payers actually type a reference: mostly right, sometimes spaced or hyphenated."""
    roll = rng.random()
    if roll < 0.80:
        return ref
    if roll < 0.90:
        return f"{ref[:4]} {ref[4:]}"
    return f"{ref[:4]}-{ref[4:]}".lower()


def free_text_reference(rng: random.Random, ref: str) -> str:
    roll = rng.random()
    if roll < 0.6:
        return ref
    if roll < 0.85:
        return f"RENT {ref} FLAT {rng.randrange(1, 40)}"  # the reference inside free text
    if roll < 0.95:
        return ref[:3] + ref[4] + ref[3] + ref[5:]  # two digits transposed
    return "RENT OCTOBER"  # no reference at all


@dataclass
class ChannelFile:
    """A file as the landlord receives it from a bank, Bacs or an outlet network."""
    label: str
    format: str
    provider: str
    content: bytes
    items: int
    name: str = ""  # a file name for it (rentflow sample --output)


BACS_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.&/- ")
FILE_CHANNELS = {"direct_debit", "standing_order", "bank_transfer", "cash"}


def bacs_name(name: str) -> str:
    return "".join(c for c in name.upper() if c in BACS_CHARS)[:18] or "TENANT"


def money(pence: int) -> str:
    return f"{pence // 100}.{pence % 100:02d}"


def october_files(payments: list[Payment], seed: int = 2026) -> tuple[list[Payment], list[ChannelFile]]:
    """The month's payments split the way a council receives them: Direct Debits as a Bacs Standard
    18 collection file per processing day (and an ARUDD report of the unpaid ones two working days
    later), standing orders and transfers on the bank's camt.053 statement, PayPoint cash in the
    outlet network's CSV; what remains (cards, Housing Benefit, Universal Credit) is pushed."""
    from rentflow_payments import samples as files  # the file layouts' writers

    rng = random.Random(seed + 7)
    pushed = [p for p in payments if p.body["channel"] not in FILE_CHANNELS]
    out: list[ChannelFile] = []

    def paid_on(p: Payment) -> dt.date:
        return dt.date.fromisoformat(p.body["paid_at"][:10])

    dd: dict[dt.date, list[Payment]] = {}
    for p in payments:
        if p.body["channel"] == "direct_debit":
            dd.setdefault(paid_on(p), []).append(p)
    returns: list[files.Returned] = []
    for day, items in sorted(dd.items()):
        records = [files.S18("17", p.body["amount_pence"], p.body["reference"], bacs_name(p.body["payer_name"]),
                             day=day) for p in items]
        out.append(ChannelFile(f"Bacs Standard 18 collections, {day:%-d %B}", "bacs18", "demo-bacs",
                               files.bacs18(records, day=day), len(records), f"bacs18-{day}.txt"))
        if day < dt.date(2026, 10, 28):  # unpaids come back two working days later
            for r in records:
                if rng.random() < 0.02:  # codes 0 and 1 are 90-95% of all unpaids (docs/domain.md)
                    code = rng.choices(["0", "1", "B", "6", "5"], weights=[62, 30, 4, 2, 2])[0]
                    returns.append(files.Returned(r.reference, r.amount_pence, day, code, r.payer_name))
    for day in sorted({r.original for r in returns}):
        items = [r for r in returns if r.original == day]
        reported = day + dt.timedelta(days=2 if day.weekday() < 3 else 4)
        out.append(ChannelFile(f"ARUDD unpaid Direct Debits, {reported:%-d %B}", "arudd", "demo-bacs",
                               files.arudd(items, reported=reported, advice=f"{day:%m%d}"), len(items),
                               f"arudd-{reported}.xml"))

    entries = [files.Entry(p.body["provider_ref"], value_date=paid_on(p), family="RCDT",
                           sub_family="STDO" if p.body["channel"] == "standing_order" else "DMCT",
                           txs=[files.Tx(p.body["amount_pence"], p.body["reference"], p.body["payer_name"])])
               for p in payments if p.body["channel"] in ("standing_order", "bank_transfer")]
    out.append(ChannelFile(f"bank statement (camt.053), {PAYMENTS_FROM:%-d %B} to {MONTH_END:%-d %B}", "camt053",
                           "demo-bank", files.camt053(entries, stmt_id="DEMO-2026-10"), len(entries),
                           "statement-camt053.xml"))

    cash = [{"transaction_id": p.body["provider_ref"], "paid_at": p.body["paid_at"],
             "amount": money(p.body["amount_pence"]), "reference": p.body["reference"],
             "outlet": f"PAYPOINT {1000 + rng.randrange(40)}"} for p in payments if p.body["channel"] == "cash"]
    out.append(ChannelFile(f"PayPoint cash file, {PAYMENTS_FROM:%-d %B} to {MONTH_END:%-d %B}", "csv", "demo-paypoint",
                           files.cash_csv(cash), len(cash), "paypoint-cash.csv"))
    return pushed, out
