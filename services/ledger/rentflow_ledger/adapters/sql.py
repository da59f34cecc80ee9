"""The ledger's repositories on PostgreSQL: every SQL statement of the service layer, on the
asyncpg connection of the unit of work (`uow.raw`, one transaction). Set-based: COPY for new
rows, `unnest` for updates and lookups of many keys; never a statement per posting.

Rows come back as asyncpg records (read by column name, as the in-memory repositories' dicts
are). Locks are taken in reference order, so two transactions locking overlapping sets of
accounts cannot deadlock."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Mapping, Sequence

from rentflow_ledger.adapters import state as ledger_state
from rentflow_ledger.adapters.state import State
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.domain.allocation import ReferenceIndex
from rentflow_ledger.domain.posting import Journal, Transaction, receipt_transaction_id

Row = Mapping[str, Any]

TRANSACTION_COLUMNS = ["transaction_id", "account_ref", "type_code", "amount_pence", "balance_after_pence",
                       "posted_at", "business_date", "period", "source_ref", "channel", "payment_id",
                       "allocation_rule", "week_start"]
JOURNAL_COLUMNS = ["journal_id", "line_no", "kind", "source_ref", "gl_code", "debit_pence", "credit_pence",
                   "account_ref", "business_date", "period", "posted_at"]
SUSPENSE_COLUMNS = ["payment_id", "provider_id", "provider_ref", "amount_pence", "channel", "reference",
                    "payer_name", "paid_at", "received_at", "business_date", "period", "reason", "opened_at"]
ACCOUNT_FIELDS = ["account_ref", "tenant_name", "property", "patch", "tenancy_start", "tenancy_end",
                  "weekly_rent_pence", "weekly_charges_pence", "payment_method", "dd_reference", "officer",
                  "balance_date", "opening_balance_pence", "so_reference"]
RETURN_COLUMNS = ["return_id", "account_ref", "reference", "amount_pence", "return_code", "original_processing_date",
                  "reported_on", "transaction_id", "original_transaction_id", "failure_id", "created_at"]


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    return [list(c) for c in zip(*rows)]


class SqlAccounts:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def find(self, refs: Sequence[str]) -> list[Row]:
        """The accounts with these references (account_ref), read without locking (accounts are never
        deleted). Receipts allocate on the cached reference index instead (adapters/state.py)."""
        if not refs:
            return []
        return await self.raw.fetch("select account_ref from accounts where account_ref = any($1::text[])", list(refs))

    async def by_dd_reference(self, refs: Sequence[str]) -> dict[str, list[str]]:
        """Normalised DD reference → the accounts it names (by DD reference, else by account reference)."""
        rows = await self.raw.fetch("select account_ref, dd_reference from accounts "
                                    "where dd_reference = any($1::text[]) or account_ref = any($1::text[])", list(refs))
        by_dd: dict[str, list[str]] = {}
        by_ref: dict[str, list[str]] = {}
        for r in rows:
            if r["dd_reference"]:
                by_dd.setdefault(r["dd_reference"], []).append(r["account_ref"])
            by_ref.setdefault(r["account_ref"], []).append(r["account_ref"])
        return {ref: by_dd.get(ref) or by_ref.get(ref) or [] for ref in refs}

    async def lock_balances(self, refs: Iterable[str]) -> dict[str, int]:
        """Balances of these accounts (those that exist), locked until commit."""
        refs = sorted(set(refs))
        if not refs:
            return {}
        rows = await self.raw.fetch("select a.account_ref, a.balance_pence from accounts a join unnest($1::text[]) as r(ref) "
                                    "on a.account_ref = r.ref order by a.account_ref for update of a", refs)
        return {r["account_ref"]: r["balance_pence"] for r in rows}

    async def balances(self, refs: Iterable[str]) -> dict[str, int]:
        """Balances of these accounts (those that exist), not locked."""
        rows = await self.raw.fetch(
            "select account_ref, balance_pence from accounts where account_ref = any($1::text[])", list(refs))
        return {r["account_ref"]: r["balance_pence"] for r in rows}

    async def move_for_receipts(self, deltas: Mapping[str, int], at: dt.datetime) -> tuple[dict[str, int],
                                                                                    dict[str, dt.date]]:
        """Locks these accounts (reference order, as `lock_balances`), adds each its delta to the balance,
        and returns the balances before and the tenancy ends of those that have one: one statement, so
        the rows are locked for that statement and what follows it, not for a second round trip."""
        refs = sorted(deltas)
        if not refs:
            return {}, {}
        # every row the update changes is one `locked` has already locked, in order: no deadlock
        rows = await self.raw.fetch(
            "with locked as materialized (select a.account_ref from accounts a join unnest($1::text[]) as r(ref) "
            "on a.account_ref = r.ref order by a.account_ref for update of a) "
            "update accounts a set balance_pence = a.balance_pence + u.delta, updated_at = $3 "
            "from locked l join unnest($1::text[], $2::bigint[]) as u(ref, delta) on u.ref = l.account_ref "
            "where a.account_ref = l.account_ref returning a.account_ref, a.balance_pence - u.delta, a.tenancy_end",
            refs, [deltas[r] for r in refs], at)
        return ({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows if r[2] is not None})

    async def update_balances(self, balances: Mapping[str, int], refs: Iterable[str], at: dt.datetime) -> None:
        refs = sorted(refs)
        if not refs:
            return
        await self.raw.execute(
            "update accounts a set balance_pence = u.balance, updated_at = $3 "
            "from unnest($1::text[], $2::bigint[]) as u(ref, balance) where a.account_ref = u.ref",
            refs, [balances[r] for r in refs], at)

    async def lock_chunk(self, after: str, limit: int) -> list[Row]:
        """The next `limit` accounts after `after` in reference order, locked, with what the debit
        run needs (balance, tenancy, balance date, weekly rent and charges)."""
        return await self.raw.fetch(
            "select account_ref, balance_pence, tenancy_start, tenancy_end, balance_date, weekly_rent_pence, "
            "weekly_charges_pence from accounts where account_ref > $1 order by account_ref limit $2 for update",
            after, limit)

    async def lock_for_import(self) -> None:
        """Imports run one at a time: two creating the same new account would otherwise collide."""
        await self.raw.execute("select pg_advisory_xact_lock(hashtext('rentflow-ledger-accounts-import'))")

    async def lock_existing(self, refs: Sequence[str]) -> dict[str, Row]:
        """account_ref → (content_hash, version, balance_pence) of those that exist, locked."""
        return {r["account_ref"]: r for r in await self.raw.fetch(
            "select account_ref, content_hash, version, balance_pence from accounts "
            "where account_ref = any($1::text[]) order by account_ref for update", list(refs))}

    async def add(self, new: Sequence[tuple[AccountRecord, str]], at: dt.datetime) -> None:
        """New accounts (record, content hash), balance 0 and version 1 (COPY)."""
        if not new:
            return
        await self.raw.copy_records_to_table(
            "accounts", columns=ACCOUNT_FIELDS + ["balance_pence", "content_hash", "version", "created_at",
                                                  "updated_at"],
            records=[tuple(getattr(r, f) for f in ACCOUNT_FIELDS) + (0, d, 1, at, at) for r, d in new])

    async def update(self, changed: Sequence[tuple[AccountRecord, str, int]], at: dt.datetime) -> None:
        """Changed accounts (record, content hash, new version); balances are left as they are."""
        if not changed:
            return
        recs = [r for r, _, _ in changed]

        def column(name: str) -> list[Any]:
            return [getattr(r, name) for r in recs]

        await self.raw.execute(
            """update accounts a set tenant_name = u.tenant_name, property = u.property, patch = u.patch,
                   tenancy_start = u.tenancy_start, tenancy_end = u.tenancy_end,
                   weekly_rent_pence = u.rent, weekly_charges_pence = u.charges, payment_method = u.method,
                   dd_reference = u.dd, officer = u.officer, balance_date = u.balance_date,
                   content_hash = u.hash, version = u.version, updated_at = $15, so_reference = u.so
               from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::bigint[],
                           $8::bigint[], $9::text[], $10::text[], $11::text[], $12::date[], $13::text[], $14::int[],
                           $16::text[])
                 as u(ref, tenant_name, property, patch, tenancy_start, tenancy_end, rent, charges, method, dd,
                      officer, balance_date, hash, version, so)
               where a.account_ref = u.ref""",
            column("account_ref"), column("tenant_name"), column("property"),
            column("patch"), column("tenancy_start"), column("tenancy_end"),
            column("weekly_rent_pence"), column("weekly_charges_pence"), column("payment_method"),
            column("dd_reference"), column("officer"), column("balance_date"),
            [d for _, d, _ in changed], [v for _, _, v in changed], at, column("so_reference"))


class SqlPostings:
    """Transactions (postings on rent accounts), journal lines and moved receipts."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def taken(self, payment_ids: Sequence[uuid.UUID], transaction_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Payments already posted to an account or held in suspense (whatever event carried them);
        `transaction_ids`: their postings' ids (receipt_transaction_id, in the same order), which the
        primary key finds."""
        if not payment_ids:
            return set()
        rows = await self.raw.fetch(
            "select payment_id from transactions where transaction_id = any($2::uuid[]) "
            "union all select payment_id from suspense where payment_id = any($1::uuid[])", list(payment_ids),
            list(transaction_ids))
        return {r[0] for r in rows}

    async def add_transactions(self, transactions: Sequence[Transaction], posted_at: dt.datetime) -> None:
        if not transactions:
            return
        await self.raw.copy_records_to_table("transactions", columns=TRANSACTION_COLUMNS, records=[
            (t.transaction_id, t.account_ref, t.type_code, t.amount_pence, t.balance_after_pence, posted_at,
             t.business_date, t.period, t.source_ref, t.channel, t.payment_id, t.allocation_rule, t.week_start)
            for t in transactions])

    async def add_transaction_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Transactions as records in TRANSACTION_COLUMNS order (built as they are posted: the debit run's,
        a receipts batch's; ids may be given as text)."""
        if rows:
            await self.raw.copy_records_to_table("transactions", columns=TRANSACTION_COLUMNS, records=rows)

    async def add_debit_journal_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """The debit run's journal lines, as records in JOURNAL_COLUMNS order."""
        if rows:
            await self.raw.copy_records_to_table("journal_lines", columns=JOURNAL_COLUMNS, records=rows)

    async def add_journals(self, journals: Iterable[Journal], posted_at: dt.datetime) -> None:
        records = [(j.journal_id, n, j.kind, j.source_ref, line.gl_code, line.debit_pence, line.credit_pence,
                    line.account_ref, j.business_date, j.period, posted_at)
                   for j in journals for n, line in enumerate(j.lines, 1)]
        if records:
            await self.raw.copy_records_to_table("journal_lines", columns=JOURNAL_COLUMNS, records=records)

    async def get(self, transaction_id: uuid.UUID) -> Row | None:
        return await self.raw.fetchrow("select * from transactions where transaction_id = $1", transaction_id)

    async def receipts_of(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        """payment_id → (account_ref it is on now, moved or not; amount paid; channel) of the
        receipts posted for these payments."""
        return {r["payment_id"]: r for r in await self.raw.fetch(
            "select t.payment_id, coalesce(m.to_account_ref, t.account_ref) as account_ref, -t.amount_pence as amount,"
            " t.channel from transactions t left join receipt_moves m on m.transaction_id = t.transaction_id "
            "where t.transaction_id = any($1::uuid[]) and t.amount_pence < 0",
            [receipt_transaction_id(p) for p in payment_ids])}

    async def dd_collections(self, keys: Sequence[tuple[str, dt.date, int]]) -> dict[tuple[str, dt.date, int], uuid.UUID]:
        """(account, processing date, amount) → the first Direct Debit collection (RDD) posted so."""
        if not keys:
            return {}
        a, d, m = zip(*keys)
        return {(r["account_ref"], r["business_date"], r["amount"]): r["transaction_id"] for r in await self.raw.fetch(
            "select distinct on (t.account_ref, t.business_date, t.amount_pence) t.transaction_id, t.account_ref, "
            "t.business_date, -t.amount_pence as amount from transactions t "
            "join unnest($1::text[], $2::date[], $3::bigint[]) u(a, d, m) "
            "on t.account_ref = u.a and t.business_date = u.d and t.amount_pence = -u.m and t.type_code = 'RDD' "
            "order by t.account_ref, t.business_date, t.amount_pence, t.seq", list(a), list(d), list(m))}

    async def raised_debits(self, refs: Sequence[str], since: dt.date) -> set[tuple[str, str, dt.date]]:
        """(account, code, week) of the weekly debits raised on these accounts from `since`."""
        return {(r[0], r[1], r[2]) for r in await self.raw.fetch(
            "select account_ref, type_code, week_start from transactions "
            "where account_ref = any($1::text[]) and week_start is not null and week_start >= $2", list(refs), since)}

    async def move_of(self, transaction_id: uuid.UUID) -> Row | None:
        return await self.raw.fetchrow("select * from receipt_moves where transaction_id = $1", transaction_id)

    async def add_move(self, transaction_id: uuid.UUID, from_ref: str, to_ref: str, by: str, note: str,
                       at: dt.datetime) -> None:
        await self.raw.execute("insert into receipt_moves values ($1, $2, $3, $4, $5, $6)", transaction_id, from_ref,
                               to_ref, by, note, at)


class SqlSuspense:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def add(self, records: Sequence[tuple[Any, ...]]) -> None:
        """New items, as tuples in SUSPENSE_COLUMNS order (COPY)."""
        if records:
            await self.raw.copy_records_to_table("suspense", columns=SUSPENSE_COLUMNS, records=records)

    async def lock(self, payment_id: uuid.UUID) -> Row | None:
        return await self.raw.fetchrow("select * from suspense where payment_id = $1 for update", payment_id)

    async def lock_open(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        """The unallocated items of these payments, locked."""
        return {r["payment_id"]: r for r in await self.raw.fetch(
            "select * from suspense where payment_id = any($1::uuid[]) and allocated_at is null for update",
            list(payment_ids))}

    async def allocate(self, payment_id: uuid.UUID, account_ref: str, transaction_id: uuid.UUID, by: str, note: str,
                       at: dt.datetime, period: str) -> None:
        await self.raw.execute(
            "update suspense set account_ref = $2, transaction_id = $3, allocated_by = $4, note = $5, "
            "allocated_at = $6, allocated_period = $7 where payment_id = $1",
            payment_id, account_ref, transaction_id, by, note, at, period)

    async def close_reversed(self, closed: Sequence[tuple[uuid.UUID, str, dt.datetime, str]]) -> None:
        """Items that left the queue because their payment was reversed: (payment_id, note, at, period)."""
        if closed:
            await self.raw.execute(
                "update suspense s set allocated_by = 'reversal', note = u.note, allocated_at = u.at, "
                "allocated_period = u.period from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[]) "
                "as u(pid, note, at, period) where s.payment_id = u.pid", *_columns(closed))


class SqlReversals:
    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def seen(self, reversal_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r[0] for r in await self.raw.fetch(
            "select reversal_id from payment_reversals where reversal_id = any($1::uuid[])", list(reversal_ids))}

    async def lock_against_payments(self) -> None:
        """Taken by new reversals before they look for their payments, held until commit. A payments
        batch (`lock_against_new_reversals`) waits for it, and it for such a batch in progress, so each
        sees what the other committed: without it, a reversal and its payment taken at the same moment
        by two ledger members each miss the other, and the reversal waits pending for ever. Reversals
        also wait for each other (share row exclusive conflicts with itself), so two of one payment
        cannot both take its money. Both locks come before any account row is locked: a batch holding
        an account a reversal needs, and waiting for the reversal's lock, would be a deadlock. A
        transaction holding payments and then new reversals takes this one at the start, in place of
        the weaker (entrypoints/consumers.py): two members each going from the weaker to this one
        would deadlock. (Reversals first would lose their fetch order when several wait for one payment.)"""
        await self.raw.execute("lock table payment_reversals in share row exclusive mode")

    async def lock_against_new_reversals(self) -> None:
        """Taken by whatever may apply pending reversals (`lock_pending`: a payments batch, a suspense
        allocation) before it locks any account; see `lock_against_payments`. Such transactions do not
        wait for each other (row exclusive does not conflict with itself)."""
        await self.raw.execute("lock table payment_reversals in row exclusive mode")

    async def lock_pending(self, payment_ids: Sequence[uuid.UUID]) -> list[Row]:
        """Reversals kept pending for these payments, oldest first, locked; the caller holds
        `lock_against_new_reversals`. Whether any reversal waits at all is asked first (the partial
        index payment_reversals_pending answers at once): every payments batch asks, and its payment
        ids (2,000 of them) are sent and looked up only when one does."""
        if not await self.raw.fetchval("select exists (select 1 from payment_reversals where status = 'pending')"):
            return []
        return await self.raw.fetch(
            "select * from payment_reversals where status = 'pending' and payment_id = any($1::uuid[]) "
            "order by created_at, arrival for update", list(payment_ids))

    async def applied(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """payment_id → the amount already reversed (posted or out of suspense)."""
        return {r[0]: r[1] for r in await self.raw.fetch(
            "select payment_id, sum(amount_pence)::bigint from payment_reversals where payment_id = any($1::uuid[]) "
            "and status in ('posted', 'suspense') group by payment_id", list(payment_ids))}

    async def record(self, records: Sequence[tuple[Any, ...]]) -> None:
        """Reversals as they stand: (reversal_id, payment_id, provider_id, provider_ref, kind, amount,
        business_date, reason, status, account_ref, transaction_id, correlation_id, event_id,
        created_at, applied_at), in the order they came (`arrival`); a pending one seen again gets
        its new status."""
        if not records:
            return
        await self.raw.execute(
            """insert into payment_reversals (reversal_id, payment_id, provider_id, provider_ref, kind, amount_pence,
                                              business_date, reason, status, account_ref, transaction_id,
                                              correlation_id, event_id, created_at, applied_at)
               select r.reversal_id, r.payment_id, r.provider_id, r.provider_ref, r.kind, r.amount_pence,
                      r.business_date, r.reason, r.status, r.account_ref, r.transaction_id, r.correlation_id,
                      r.event_id, r.created_at, r.applied_at
               from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                           $7::date[], $8::text[], $9::text[], $10::text[], $11::uuid[], $12::text[],
                           $13::uuid[], $14::timestamptz[], $15::timestamptz[]) with ordinality
                    as r(reversal_id, payment_id, provider_id, provider_ref, kind, amount_pence, business_date,
                         reason, status, account_ref, transaction_id, correlation_id, event_id, created_at,
                         applied_at, n)
               order by r.n
               on conflict (reversal_id) do update set status = excluded.status, account_ref = excluded.account_ref,
                   transaction_id = excluded.transaction_id, applied_at = excluded.applied_at""",
            *_columns(records))


class SqlMandates:
    """Direct Debit mandates, the returns and instructions already handled."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def states(self, refs: Sequence[str]) -> dict[str, str]:
        rows = await self.raw.fetch("select reference, state from mandates where reference = any($1::text[])", list(refs))
        return {r["reference"]: r["state"] for r in rows}

    async def upsert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(reference, account_ref, state, reason_code, description, instruction_id, effective_date,
        updated_at), one per reference; an unknown account keeps the one recorded."""
        if not rows:
            return
        await self.raw.execute(
            """insert into mandates (reference, account_ref, state, reason_code, description, instruction_id,
                                     effective_date, updated_at)
               select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                                    $7::date[], $8::timestamptz[])
               on conflict (reference) do update set account_ref = coalesce(excluded.account_ref, mandates.account_ref),
                   state = excluded.state, reason_code = excluded.reason_code, description = excluded.description,
                   instruction_id = excluded.instruction_id, effective_date = excluded.effective_date,
                   updated_at = excluded.updated_at""", *_columns(rows))

    async def returns_seen(self, return_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r["return_id"] for r in await self.raw.fetch(
            "select return_id from dd_returns where return_id = any($1::uuid[])", list(return_ids))}

    async def add_returns(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Returns handled, as tuples in RETURN_COLUMNS order (COPY)."""
        if rows:
            await self.raw.copy_records_to_table("dd_returns", records=rows, columns=RETURN_COLUMNS)

    async def instructions_seen(self, instruction_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r["instruction_id"] for r in await self.raw.fetch(
            "select instruction_id from mandate_instructions where instruction_id = any($1::uuid[])",
            list(instruction_ids))}

    async def add_instructions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """(instruction_id, account_ref, new_state, received_at) (COPY)."""
        if rows:
            await self.raw.copy_records_to_table("mandate_instructions", records=rows,
                                                 columns=["instruction_id", "account_ref", "new_state", "received_at"])


class SqlAdjustments:
    """Adjustment requests and the ledger's own list of approvers."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def upsert_approver(self, name: str, role: str) -> bool:
        """True when the name is new."""
        row = await self.raw.fetchrow(
            "insert into approvers (name, role, updated_at) values ($1, $2, now()) on conflict (name) "
            "do update set role = excluded.role, updated_at = excluded.updated_at returning (xmax = 0) as created",
            name, role)
        return bool(row["created"])

    async def approvers(self) -> list[Row]:
        return await self.raw.fetch("select name, role from approvers order by name")

    async def role_of(self, name: str) -> str | None:
        return await self.raw.fetchval("select role from approvers where lower(name) = lower($1)", name)

    async def add(self, request_id: uuid.UUID, account_ref: str, type_: str, amount: int, to_account_ref: str | None,
                  reason: str, by: str) -> Row:
        return await self.raw.fetchrow(
            "insert into adjustments (request_id, account_ref, type, amount_pence, to_account_ref, reason, "
            "requested_by, requested_at) values ($1, $2, $3, $4, $5, $6, $7, now()) returning *",
            request_id, account_ref, type_, amount, to_account_ref, reason, by)

    async def get(self, request_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        return await self.raw.fetchrow("select * from adjustments where request_id = $1"
                                       + (" for update" if lock else ""), request_id)

    async def list(self, status: str | None) -> list[Row]:
        return await self.raw.fetch("select * from adjustments where ($1::text is null or status = $1) "
                                    "order by requested_at", status)

    async def approve(self, request_id: uuid.UUID, by: str, at: dt.datetime,
                      transaction_ids: Sequence[uuid.UUID]) -> Row:
        return await self.raw.fetchrow(
            "update adjustments set status = 'approved', approved_by = $2, approved_at = $3, transaction_ids = $4 "
            "where request_id = $1 returning *", request_id, by, at, list(transaction_ids))


class SqlPeriods:
    """The ledger state row (closed periods, generation of the known references) and the periods
    closed, who closed them and when."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def state(self, *, lock: bool = True) -> State:
        """FOR SHARE unless `lock=False`: a batch sees the periods closed when it started, and
        closing one waits for the batches in flight."""
        return await ledger_state.read_state(self.raw, lock=lock)

    async def reference_index(self, state: State) -> ReferenceIndex:
        return await ledger_state.reference_index(self.raw, state)

    async def references_changed(self) -> None:
        await ledger_state.bump_generation(self.raw)

    async def lock_for_close(self) -> None:
        await self.raw.execute("select 1 from ledger_state where id = 1 for update")

    async def closed(self, period: str) -> Row | None:
        return await self.raw.fetchrow("select period, closed_at, closed_by from periods where period = $1", period)

    async def close(self, period: str, at: dt.datetime, by: str) -> None:
        await self.raw.execute("insert into periods (period, closed_at, closed_by) values ($1, $2, $3)", period, at, by)
        await self.raw.execute("update ledger_state set closed_periods = array_append(closed_periods, $1) where id = 1",
                               period)

    async def list(self) -> list[Row]:
        return await self.raw.fetch("select * from periods order by period")


class SqlRents:
    """Rent history (rent_changes) and rent-free weeks."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    async def history(self, refs: Sequence[str]) -> list[Row]:
        """(account_ref, effective_date, new_weekly_rent_pence, new_weekly_charges_pence) by account
        and date."""
        return await self.raw.fetch(
            "select account_ref, effective_date, new_weekly_rent_pence, new_weekly_charges_pence from rent_changes "
            "where account_ref = any($1::text[]) order by account_ref, effective_date", list(refs))

    async def rent_free_weeks(self) -> dict[int, set[int]]:
        table: dict[int, set[int]] = {}
        for r in await self.raw.fetch("select rent_year, week from rent_free_weeks"):
            table.setdefault(r["rent_year"], set()).add(r["week"])
        return table

    async def set_rent_free_weeks(self, rent_year: int, weeks: Sequence[int]) -> None:
        await self.raw.execute("delete from rent_free_weeks where rent_year = $1", rent_year)
        await self.raw.execute("insert into rent_free_weeks (rent_year, week) select $1, unnest($2::int[])",
                               rent_year, list(weeks))

    async def in_force(self, effective: dt.date) -> list[Row]:
        """Current tenancies on `effective` (account_ref, tenant_name, property, patch,
        payment_method) with the rent and charges in force then (rent, charges), by reference."""
        return await self.raw.fetch(
            """select a.account_ref, a.tenant_name, a.property, a.patch, a.payment_method,
                      coalesce(h.new_weekly_rent_pence, a.weekly_rent_pence) as rent,
                      coalesce(h.new_weekly_charges_pence, a.weekly_charges_pence) as charges
               from accounts a
               left join lateral (select new_weekly_rent_pence, new_weekly_charges_pence from rent_changes r
                                  where r.account_ref = a.account_ref and r.effective_date < $1
                                  order by r.effective_date desc limit 1) h on true
               where (a.tenancy_end is null or a.tenancy_end >= $1) and a.tenancy_start <= $1
               order by a.account_ref""", effective)

    async def add_changes(self, effective: dt.date, changes: Sequence[tuple[str, uuid.UUID, int, int, int]],
                          reason: str, at: dt.datetime) -> set[str]:
        """Rent changes (account, change id, old rent, new rent, charges) from `effective`; returns
        the accounts that had none from that date (the others are left as they were)."""
        if not changes:
            return set()
        refs, ids, old, new, charges = _columns(changes)
        return {r["account_ref"] for r in await self.raw.fetch(
            """insert into rent_changes (account_ref, effective_date, change_id, old_weekly_rent_pence,
                   new_weekly_rent_pence, old_weekly_charges_pence, new_weekly_charges_pence, reason, created_at)
               select u.ref, $1, u.id, u.old, u.new, u.charges, u.charges, $7, $8
               from unnest($2::text[], $3::uuid[], $4::bigint[], $5::bigint[], $6::bigint[])
                 as u(ref, id, old, new, charges)
               on conflict (account_ref, effective_date) do nothing returning account_ref""",
            effective, refs, ids, old, new, charges, reason, at)}
