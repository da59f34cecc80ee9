"""SQL of the cash book's side of the ledger: statement lump sums and the detail they settle
(domain/lumps.py), and the items raised for finance (ledger.unreconciled.v1). Set-based; rows by
column name."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_ledger.domain.lumps import DetailGroup

# Lump matching reads detail totals and marks detail settled: one transaction at a time, so a lump
# and the detail it settles, arriving together on two consumers, still meet (the later one sees the
# earlier's rows once it has the lock).
LUMPS_LOCK = 7_316_001
OPEN = ["unmatched", "ambiguous", "mismatch"]  # lumps still waiting for (the rest of) their detail
OPEN_SQL = "('unmatched', 'ambiguous', 'mismatch')"  # as a literal: the partial index lumps_open serves it
DETAIL_COLUMNS = ["payment_id", "channel", "import_id", "business_date", "amount_pence", "payout_key", "fee_pence",
                  "created_at"]



# A payout's detail: its charges (count and gross), their fees, and what was taken back out of it
# (refunds and disputes: negative detail).
PAYOUT_TOTALS = ("coalesce(sum(amount_pence) filter (where amount_pence > 0), 0)::bigint as total, "
                 "count(*) filter (where amount_pence > 0) as n, sum(fee_pence)::bigint as fees, "
                 "coalesce(-sum(amount_pence) filter (where amount_pence < 0), 0)::bigint as taken_back")


def _group(r: Any, channel: str) -> DetailGroup:
    return DetailGroup(r["key"], channel, r["first_day"], r["last_day"], r["total"], r["n"], r["fees"],
                       r["taken_back"])

class SqlLumps:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def lock(self) -> None:
        await self.raw.execute("select pg_advisory_xact_lock($1)", LUMPS_LOCK)

    async def add_detail(self, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID | None, dt.date, int, str | None, int]],
                         at: dt.datetime) -> set[str]:
        """(payment_id, channel, import_id, business_date, amount_pence, payout key or None, fee_pence) of
        receipts a lump may settle; the channels of those not kept before."""
        if not rows:
            return set()
        cols = list(zip(*rows))
        found = await self.raw.fetch(  # the distinct channels: a row back per channel, not per receipt
            """with added as (
                 insert into lump_detail (payment_id, channel, import_id, business_date, amount_pence, payout_key,
                                          fee_pence, created_at)
                 select u.*, $8 from unnest($1::uuid[], $2::text[], $3::uuid[], $4::date[], $5::bigint[], $6::text[],
                                            $7::bigint[])
                      as u(payment_id, channel, import_id, business_date, amount_pence, payout_key, fee_pence)
                 on conflict (payment_id) do nothing returning channel)
               select distinct channel from added""", *[list(c) for c in cols], at)
        return {r[0] for r in found}

    async def add_receipt_detail(self, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID | None, dt.date, int,
                                                            str | None, int]], at: dt.datetime, *,
                                 untaken: bool = False) -> set[str]:
        """`add_detail` for a payments batch's receipts, by COPY: INSERT ... ON CONFLICT inserts row by
        row (a speculative insertion each), about twice the database time. A payment's detail is kept in
        the transaction that takes the payment, under the unique index of its posting or suspense item,
        so two transactions adding the same payment's detail at once cannot both commit; the detail
        kept before (a redelivered payment) is left out here, the rest is new. `untaken`: the rows are
        of payments this transaction found not taken before (one row each), so none has detail kept:
        they are neither looked up first nor told apart by payment."""
        if untaken:
            if rows:
                await self.raw.copy_records_to_table("lump_detail", columns=DETAIL_COLUMNS,
                                                     records=[r + (at,) for r in rows])
            return {r[1] for r in rows}
        new: dict[uuid.UUID, tuple[Any, ...]] = {}
        for r in rows:
            new.setdefault(r[0], r)
        if not new:
            return set()
        for r in await self.raw.fetch("select payment_id from lump_detail where payment_id = any($1::uuid[])",
                                      list(new)):
            del new[r[0]]
        if new:
            await self.raw.copy_records_to_table("lump_detail", columns=DETAIL_COLUMNS,
                                                 records=[r + (at,) for r in new.values()])
        return {r[1] for r in new.values()}

    async def seen(self, payment_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r[0] for r in await self.raw.fetch("select payment_id from lumps where payment_id = any($1::uuid[])",
                                                   list(payment_ids))}

    async def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(payment_id, provider_id, provider_ref, kind, amount_pence, value_date, reference, payer_name,
        status, matched_key, matched_at, created_at, channel, payout_id)"""
        if not rows:
            return
        await self.raw.execute(
            """insert into lumps (payment_id, provider_id, provider_ref, kind, amount_pence, value_date, reference,
                                  payer_name, status, matched_key, matched_at, created_at, channel, payout_id)
               select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::date[],
                                    $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],
                                    $12::timestamptz[], $13::text[], $14::text[])
               on conflict (payment_id) do nothing""", *[list(c) for c in zip(*rows)])

    async def groups(self, channel: str, earliest: dt.date, latest: dt.date) -> list[DetailGroup]:
        """Unsettled detail of a channel whose last value date is in [earliest, latest], per payout (detail
        that names its payout belongs to it alone), and per file and per day (the rest)."""
        rows = await self.raw.fetch(
            f"""select 'import:' || import_id::text as key, min(business_date) as first_day,
                      max(business_date) as last_day, sum(amount_pence)::bigint as total, count(*) as n,
                      sum(fee_pence)::bigint as fees, 0::bigint as taken_back
               from lump_detail where lump_id is null and channel = $1 and payout_key is null
                 and import_id is not null and import_id in (select import_id from lump_detail where lump_id is null and channel = $1
                                   and business_date between $2 and $3 and import_id is not null
                                   and payout_key is null)
               group by import_id having max(business_date) between $2 and $3
               union all
               select 'day:' || business_date::text, business_date, business_date, sum(amount_pence)::bigint,
                      count(*), sum(fee_pence)::bigint, 0
               from lump_detail where lump_id is null and channel = $1 and business_date between $2 and $3
                 and payout_key is null
               group by business_date
               union all
               select payout_key, min(business_date), max(business_date), {PAYOUT_TOTALS}
               from lump_detail where lump_id is null and channel = $1
                 and payout_key in (select payout_key from lump_detail where lump_id is null and channel = $1
                                    and business_date between $2 and $3 and payout_key is not null)
               group by payout_key having max(business_date) between $2 and $3""", channel, earliest, latest)
        return [_group(r, channel) for r in rows]

    async def payout_groups(self, channel: str, keys: Sequence[str]) -> list[DetailGroup]:
        """The unsettled detail of these payouts ("payout:<ID>"), whatever their dates."""
        rows = await self.raw.fetch(
            f"""select payout_key as key, min(business_date) as first_day, max(business_date) as last_day,
                       {PAYOUT_TOTALS}
               from lump_detail where lump_id is null and channel = $1 and payout_key = any($2::text[])
               group by payout_key""", channel, list(keys))
        return [_group(r, channel) for r in rows]

    async def settle(self, lump_id: uuid.UUID, channel: str, key: str) -> int:
        """Marks the group's detail settled by the lump; the number of receipts."""
        if key.startswith("import:"):
            status = await self.raw.execute(
                "update lump_detail set lump_id = $1 where lump_id is null and channel = $2 and import_id = $3 "
                "and import_id is not null and payout_key is null", lump_id, channel, uuid.UUID(key.removeprefix("import:")))
        elif key.startswith("payout:"):
            status = await self.raw.execute(
                "update lump_detail set lump_id = $1 where lump_id is null and channel = $2 and payout_key = $3",
                lump_id, channel, key)
        else:
            status = await self.raw.execute(
                "update lump_detail set lump_id = $1 where lump_id is null and channel = $2 and business_date = $3 "
                "and payout_key is null", lump_id, channel, dt.date.fromisoformat(key.removeprefix("day:")))
        return int(status.split()[-1])

    async def set_status(self, payment_id: uuid.UUID, status: str, key: str | None) -> None:
        """An open lump's status when tried again (a payout's detail arriving in parts: unmatched → mismatch)."""
        await self.raw.execute("update lumps set status = $2, matched_key = $3 where payment_id = $1",
                               payment_id, status, key)

    async def set_matched(self, payment_id: uuid.UUID, key: str, at: dt.datetime) -> None:
        await self.raw.execute("update lumps set status = 'matched', matched_key = $2, matched_at = $3 "
                               "where payment_id = $1", payment_id, key, at)

    async def of(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The lumps among these payments, by payment id, locked for update."""
        rows = await self.raw.fetch("select * from lumps where payment_id = any($1::uuid[]) for update",
                                    list(payment_ids))
        return {uuid.UUID(str(r["payment_id"])): r for r in rows}

    async def set_reversed(self, payment_id: uuid.UUID, at: dt.datetime) -> None:
        await self.raw.execute("update lumps set status = 'reversed', reversed_at = $2 where payment_id = $1",
                               payment_id, at)

    async def listing(self, status: str | None, limit: int) -> list[Any]:
        """Lumps, newest value date first, of a status (open: unmatched, ambiguous or mismatch) or all."""
        statuses = {"open": OPEN}.get(status or "", [status] if status else None)
        return list(await self.raw.fetch(
            "select payment_id, provider_id, provider_ref, kind, amount_pence, value_date, reference, payer_name, "
            "status, matched_key, matched_at, created_at, channel, reversed_at, payout_id from lumps "
            "where ($1::text[] is null or status = any($1)) order by value_date desc, payment_id limit $2",
            statuses, limit))

    async def any_open(self, kinds: Sequence[str]) -> bool:
        """Whether a lump of these kinds waits for detail (read without the lock: the cheap test that
        spares every receipts batch the lock when nothing waits)."""
        return bool(await self.raw.fetchval(
            f"select exists (select 1 from lumps where status in {OPEN_SQL} and kind = any($1::text[]))",
            list(kinds)))

    async def open(self, kinds: Sequence[str]) -> list[Any]:
        """Lumps of these kinds still waiting for their detail (unmatched, ambiguous, mismatch), oldest first."""
        return list(await self.raw.fetch(
            f"select * from lumps where status in {OPEN_SQL} and kind = any($1::text[]) "
            "order by value_date, payment_id", list(kinds)))


class SqlUnreconciled:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def open(self, rows: Sequence[tuple[uuid.UUID, str, int | None, str, dt.date, str, dt.datetime]]
                   ) -> set[uuid.UUID]:
        """(item_id, kind, amount_pence, reference, business_date, reason, at) → the ids new here."""
        if not rows:
            return set()
        found = await self.raw.fetch(
            """insert into unreconciled (item_id, kind, status, amount_pence, reference, business_date, reason,
                                         created_at)
               select u.item_id, u.kind, 'open', u.amount, u.reference, u.day, u.reason, u.at
               from unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::date[], $6::text[],
                           $7::timestamptz[]) as u(item_id, kind, amount, reference, day, reason, at)
               on conflict (item_id) do nothing returning item_id""", *[list(c) for c in zip(*rows)])
        return {r[0] for r in found}

    async def resolve(self, item_ids: Sequence[uuid.UUID], at: dt.datetime) -> set[uuid.UUID]:
        found = await self.raw.fetch(
            "update unreconciled set status = 'resolved', resolved_at = $2 where item_id = any($1::uuid[]) "
            "and status = 'open' returning item_id", list(item_ids), at)
        return {r[0] for r in found}

    async def reword(self, item_id: uuid.UUID, reason: str) -> bool:
        """The open item's reason, if it says something else now."""
        return await self.raw.fetchval(
            "update unreconciled set reason = $2 where item_id = $1 and status = 'open' and reason <> $2 "
            "returning true", item_id, reason) is not None

    async def list(self, status: str | None = None) -> list[Any]:
        return list(await self.raw.fetch(
            "select * from unreconciled where ($1::text is null or status = $1) order by created_at, item_id", status))


class SqlCashBook:
    """What the Bacs and bank follow-ups need beyond the other repositories: Direct Debit
    collections waiting in suspense, indemnity claims and their cancellations, refunds that may
    bounce, and the lodgement each mandate was lodged in."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def dd_collections_in_suspense(self, keys: Sequence[tuple[str, dt.date, int]]
                                         ) -> dict[tuple[str, dt.date, int], Any]:
        """(normalised DD reference, value date, amount) → the Direct Debit receipt held in suspense for
        it (open, or allocated by hand since: then `account_ref` says where), locked; the first opened."""
        if not keys:
            return {}
        rows = await self.raw.fetch(
            """select u.ref, u.day, u.amount, s.*
               from unnest($1::text[], $2::date[], $3::bigint[]) as u(ref, day, amount)
               join lateral (select * from suspense s where s.channel = 'direct_debit' and s.business_date = u.day
                                and s.amount_pence = u.amount
                                and upper(regexp_replace(s.reference, '[[:space:]-]', '', 'g')) = u.ref
                                and s.allocated_by is distinct from 'reversal'
                             order by s.opened_at, s.payment_id limit 1 for update) s on true""",
            *[list(c) for c in zip(*keys)])
        return {(r["ref"], r["day"], r["amount"]): r for r in rows}

    async def returns(self, return_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """The returns (indemnity claims) these ids name, locked."""
        return {r["return_id"]: r for r in await self.raw.fetch(
            "select * from dd_returns where return_id = any($1::uuid[]) for update", list(return_ids))}

    async def add_cancellations(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(return_id, account_ref, reference, amount_pence, return_code, original_processing_date, reported_on,
        transaction_id, failure_id, cancels_return_id, created_at)"""
        if not rows:
            return
        await self.raw.execute(
            """insert into dd_returns (return_id, account_ref, reference, amount_pence, return_code,
                                       original_processing_date, reported_on, transaction_id, failure_id,
                                       cancels_return_id, created_at)
               select * from unnest($1::uuid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::date[],
                                    $7::date[], $8::uuid[], $9::uuid[], $10::uuid[], $11::timestamptz[])""",
            *[list(c) for c in zip(*rows)])
        done = [(r[9], r[0]) for r in rows if r[7] is not None]
        if done:
            await self.raw.execute(
                "update dd_returns d set cancelled_by = u.by from unnest($1::uuid[], $2::uuid[]) as u(claim, by) "
                "where d.return_id = u.claim", *[list(c) for c in zip(*done)])

    async def refunds(self, at_least_pence: int) -> list[Any]:
        """Approved refunds of at least this amount, with the account they left."""
        return list(await self.raw.fetch(
            "select request_id, account_ref, amount_pence, approved_at from adjustments "
            "where type = 'refund' and status = 'approved' and amount_pence >= $1 order by approved_at",
            at_least_pence))

    async def returned_refunds(self) -> set[uuid.UUID]:
        return {r[0] for r in await self.raw.fetch(
            "select refund_request_id from payment_reversals where kind = 'outgoing_returned' "
            "and refund_request_id is not null")}

    async def set_refunds(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        """(reversal_id, refund request_id): which refund a returned outgoing payment was."""
        if pairs:
            await self.raw.execute(
                "update payment_reversals r set refund_request_id = u.req from unnest($1::uuid[], $2::uuid[]) "
                "as u(rid, req) where r.reversal_id = u.rid", *[list(c) for c in zip(*pairs)])

    async def lodged(self, serials: Sequence[str]) -> dict[str, list[Any]]:
        """Lodgement serial → the mandates lodged in it (reference, account_ref, state)."""
        out: dict[str, list[Any]] = {s: [] for s in serials}
        for r in await self.raw.fetch("select * from mandates where lodgement_serial = any($1::text[]) "
                                      "order by reference for update", list(serials)):
            out[r["lodgement_serial"]].append(r)
        return out

    async def set_lodgements(self, pairs: Sequence[tuple[str, str]]) -> None:
        """(DD reference, lodgement serial) of instructions lodged in a Standard 18 submission."""
        if pairs:
            await self.raw.execute(
                "update mandates m set lodgement_serial = u.serial from unnest($1::text[], $2::text[]) "
                "as u(ref, serial) where m.reference = u.ref", *[list(c) for c in zip(*pairs)])
