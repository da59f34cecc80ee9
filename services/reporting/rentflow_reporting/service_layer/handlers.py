"""Reporting's handlers: a batch of ledger events into the aggregates; a KPI snapshot out of
them (stored and emitted through the outbox)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from rentflow_common.db import UnitOfWork, as_of_one_moment
from rentflow_common.events import Cause, Msg
from rentflow_common.fastdecode import struct_of
from rentflow_schemas.ledger import AccountUpserted, SuspenseEvent, TransactionPosted
from rentflow_schemas.reporting import KpiSnapshot

from rentflow_reporting.adapters import repository as repo
from rentflow_reporting.domain import aggregation as agg
from rentflow_reporting.domain.kpi import (ARREARS_WEEKS_THRESHOLD, WEEKS_PER_YEAR, Position, age_bands,
                                           compute_kpis, period_totals)
from rentflow_reporting.domain import returns
from rentflow_reporting.domain.periods import Selection, select_period
from rentflow_reporting.domain.snapshot import content_hash, dumps, snapshot_event_id, snapshot_identity

LONDON = ZoneInfo("Europe/London")
TRANSACTIONS = "ledger.transactions.v1"
SUSPENSE = "ledger.suspense.v1"
ACCOUNTS = "ledger.accounts.v1"


def london_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LONDON).date()


def today_london() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).astimezone(LONDON).date()


_tuple = tuple.__new__  # a Posting per posting consumed, without its __new__'s Python call


# What the consumer's fast decode makes of these topics' events (rentflow_common.fastdecode): Structs
# with the models' fields, read by attribute (the consumers' `fast` topics, entrypoints/consumers.py)
_POSTED, _UPSERTED, _SUSPENSE = (struct_of(m) for m in (TransactionPosted, AccountUpserted, SuspenseEvent))


def _posting_of_struct(e: Any) -> agg.Posting:
    channel = e.channel
    return _tuple(agg.Posting, (e.transaction_id, e.account_ref, e.type_code, e.amount_pence, e.posted_at,
                                e.business_date, e.source_ref, channel._value_ if channel is not None else None,
                                e.allocation_rule))


def _posting(e: TransactionPosted) -> agg.Posting:
    # item look-ups in the model's __dict__ (cheaper than its attributes), the channel's text by
    # `_value_` (Enum.value is a Python property): 0.85 → 0.47 µs a posting
    f = e.__dict__
    channel = f["channel"]
    return _tuple(agg.Posting, (f["transaction_id"], f["account_ref"], f["type_code"], f["amount_pence"],
                                f["posted_at"], f["business_date"], f["source_ref"],
                                channel._value_ if channel is not None else None, f["allocation_rule"]))


async def apply_ledger_events(uow: UnitOfWork, msgs: Sequence[Msg[Any]]) -> None:
    """One batch of ledger.transactions, ledger.suspense and ledger.accounts events (new ones only:
    the consumer has dropped redeliveries) → a handful of set-based statements. Postings are also
    de-duplicated on their transaction id and suspense items on their payment id, so an event
    re-emitted under another id counts once."""
    conn = uow.raw
    postings: list[agg.Posting] = []
    profiles: dict[str, AccountUpserted] = {}
    opened: dict[Any, tuple] = {}
    value_dates: dict[Any, dt.date] = {}
    allocated: dict[Any, tuple] = {}
    reversed_: dict[Any, tuple] = {}
    for msg in msgs:  # in fetch order per key; later wins for profiles
        data = msg.data
        # by exact type (isinstance on a pydantic model goes through ABCMeta.__instancecheck__): the
        # consumer builds each topic's own model (or its Struct), never a subclass
        kind = type(data)
        if kind is _POSTED:
            postings.append(_posting_of_struct(data))
        elif kind is TransactionPosted:
            postings.append(_posting(data))
        elif kind is AccountUpserted or kind is _UPSERTED:
            profiles[data.account_ref] = data
        elif kind is SuspenseEvent or kind is _SUSPENSE:
            s = data
            if s.action == "opened":
                value_date = s.business_date or london_date(s.paid_at or s.received_at)
                opened.setdefault(s.payment_id, (s.payment_id, s.amount_pence, s.channel.value, s.received_at,
                                                 agg.booked_date(value_date, s.period)))
                value_dates.setdefault(s.payment_id, value_date)
            elif s.action == "allocated":
                at = msg.occurred_at
                # events from before the ledger sent value dates: the day of the allocation
                booked = agg.booked_date(s.business_date, s.period) if s.business_date else london_date(at)
                allocated.setdefault(s.payment_id, (s.payment_id, s.amount_pence, s.channel.value, at,
                                                    booked, s.account_ref))
            elif s.action == "reversed":  # the money went back: out of the queue and out of collected
                at = msg.occurred_at
                reversed_.setdefault(s.payment_id, (s.payment_id, s.amount_pence, s.channel.value, at,
                                                    london_date(at), None))

    # by the id's int: uuid.UUID hashes through a Python __hash__, several times per posting here
    unique: dict[int, agg.Posting] = {}
    for p in postings:
        unique.setdefault(p.transaction_id.int, p)
    firsts = postings if len(unique) == len(postings) else list(unique.values())
    fresh = await repo.claim_postings(conn, firsts)

    totals = agg.batch_totals(fresh)
    for r in await repo.open_suspense(conn, list(opened.values())):
        totals += agg.suspense_opened_totals(value_dates[r["payment_id"]], r["opened_date"], r["channel"],
                                             r["amount_pence"])
    for r in await repo.allocate_suspense(conn, list(allocated.values())):
        totals += agg.suspense_allocated_totals(r["allocated_date"], r["amount_pence"])
    channels = {v[0]: v[2] for v in reversed_.values()}
    for r in await repo.allocate_suspense(conn, list(reversed_.values())):
        totals += agg.suspense_reversed_totals(r["allocated_date"], channels[r["payment_id"]], r["amount_pence"])

    await repo.upsert_profiles(conn, list(profiles.values()))
    # an account with a day-end balance has its account_state row (both are written with its first
    # posting): only the accounts given a new day-end row can be without one
    given_a_day = await repo.add_balance_movements(conn, agg.balance_moves(agg.balance_deltas(fresh)))
    await repo.add_accounts(conn, set(given_a_day))
    await repo.add_daily_totals(conn, agg.merge_totals(totals))


async def compute_snapshot(uow: UnitOfWork, selection: Selection, as_of: dt.date) -> dict[str, Any]:
    conn = uow.raw
    p = selection.period
    totals = period_totals(await repo.totals_between(conn, p.start, selection.through))
    pos = await repo.account_position(conn, p.start, selection.through, ARREARS_WEEKS_THRESHOLD, WEEKS_PER_YEAR)
    bands = age_bands(await repo.suspense_at(conn, selection.through))
    position = Position(
        arrears_brought_forward_pence=pos["arrears_bf"],
        current_tenant_arrears_pence=pos["current_arrears"],
        former_tenant_arrears_pence=pos["former_arrears"],
        current_tenancies=pos["current_tenancies"],
        dd_tenancies=pos["dd_tenancies"],
        annual_rent_debit_pence=pos["annual_debit"],
        tenants_over_7_weeks_arrears=pos["over_threshold"],
        current_tenancies_in_arrears=pos["in_arrears"],
        suspense_count=sum(b["count"] for b in bands.values()),
        suspense_pence=sum(b["pence"] for b in bands.values()),
        suspense_age_bands=bands,
    )
    return compute_kpis(selection, totals, position, as_of=as_of)


async def record_snapshot(uow: UnitOfWork, snapshot: dict[str, Any], *, now: dt.datetime | None = None
                          ) -> dict[str, Any]:
    """Stores the snapshot and emits KpiSnapshot through the outbox, once per distinct content
    (event id from period, period_start and the content hash). Returns it with taken_at."""
    digest = content_hash(snapshot)
    snapshot_id = snapshot_event_id(snapshot["period"], snapshot["period_start"], digest)
    snapshot = {**snapshot, "taken_at": now or dt.datetime.now(dt.timezone.utc), "snapshot_id": snapshot_id}
    if await repo.store_snapshot(uow.raw, snapshot_id, snapshot, digest, dumps(snapshot)):
        event = KpiSnapshot(**{k: v for k, v in snapshot.items() if k != "snapshot_id"})
        uow.emit(event, identity=snapshot_identity(snapshot["period"], snapshot["period_start"], digest),
                 cause=Cause(None, f"kpi:{snapshot['period']}:{snapshot['period_start']}"))
    else:
        snapshot["taken_at"] = await repo.snapshot_taken_at(uow.raw, snapshot_id) or snapshot["taken_at"]
    return snapshot


async def read_kpis(uow: UnitOfWork, kind: str, as_of: dt.date) -> dict[str, Any]:
    """GET /v1/kpi's snapshot, computed and not yet stored (`record_snapshot`, in another unit of work): the
    latest period ended on or before as_of (or the current one to date). Its figures are read as of one
    moment (the first statement of `uow`, which only reads): read committed, a batch committed between the
    period's totals and the arrears position counted its postings in one and not the other."""
    await as_of_one_moment(uow.raw)
    selection = select_period(kind, as_of, await repo.first_activity(uow.raw))
    return await compute_snapshot(uow, selection, as_of)


async def annual_return(uow: UnitOfWork, kind: str, year: int, today: dt.date) -> dict[str, Any]:
    """The LAHS rent arrears extract (`lahs`) or the benchmarking set (`benchmark`) for the
    financial year starting in April `year`; to date (complete false) while the year runs. Read as of one
    moment, as `read_kpis`."""
    await as_of_one_moment(uow.raw)
    period = returns.financial_year(year)
    selection = Selection(period, period.end, True) if today > period.end else Selection(period, today, False)
    snapshot = await compute_snapshot(uow, selection, today)
    return returns.lahs_rent_arrears(snapshot) if kind == "lahs" else returns.benchmark(snapshot)
