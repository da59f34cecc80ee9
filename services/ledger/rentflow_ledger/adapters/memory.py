"""The ledger's repositories in memory (adapters/repositories.py), for the unit and property
tests: the real handlers run on them without a database.

`MemoryLedger` holds the tables (dicts of rows, read by column name as asyncpg records are; a row
is replaced, never changed in place) and the outbox; `MemoryLedger.uow()` opens a unit of work on
a copy of them that replaces them at
`commit()` (with what was emitted appended to the outbox) and is dropped otherwise, so a handler
that raises leaves nothing behind. The constraints the SQL relies on (primary keys, one debit per
account, code and week, one posting per payment) raise `Conflict`, as PostgreSQL would.

Units of work run one at a time (no locks: "lock" methods read)."""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from rentflow_common.events import Emitter, OutboxRow
from rentflow_ledger.adapters.sql import ACCOUNT_FIELDS, RETURN_COLUMNS, SUSPENSE_COLUMNS
from rentflow_ledger.adapters.state import State
from rentflow_ledger.domain.accounts import AccountRecord
from rentflow_ledger.domain.allocation import ReferenceIndex
from rentflow_ledger.domain.posting import Journal, Transaction

Row = dict[str, Any]
REVERSAL_COLUMNS = ["reversal_id", "payment_id", "provider_id", "provider_ref", "kind", "amount_pence",
                    "business_date", "reason", "status", "account_ref", "transaction_id", "correlation_id",
                    "event_id", "created_at", "applied_at"]


class Conflict(Exception):
    """A row breaking a constraint the database has (a duplicate key)."""


@dataclass
class Tables:
    token: uuid.UUID = field(default_factory=uuid.uuid4)
    generation: int = 0
    closed_periods: list[str] = field(default_factory=list)
    accounts: dict[str, Row] = field(default_factory=dict)
    transactions: dict[uuid.UUID, Row] = field(default_factory=dict)  # in posting order (seq)
    journal_lines: list[Row] = field(default_factory=list)
    suspense: dict[uuid.UUID, Row] = field(default_factory=dict)
    reversals: dict[uuid.UUID, Row] = field(default_factory=dict)
    mandates: dict[str, Row] = field(default_factory=dict)
    dd_returns: dict[uuid.UUID, Row] = field(default_factory=dict)
    instructions: dict[uuid.UUID, Row] = field(default_factory=dict)
    approvers: dict[str, Row] = field(default_factory=dict)
    adjustments: dict[uuid.UUID, Row] = field(default_factory=dict)
    periods: dict[str, Row] = field(default_factory=dict)
    rent_free: set[tuple[int, int]] = field(default_factory=set)
    rent_changes: dict[tuple[str, dt.date], Row] = field(default_factory=dict)
    moves: dict[uuid.UUID, Row] = field(default_factory=dict)
    lump_detail: dict[uuid.UUID, Row] = field(default_factory=dict)
    lumps: dict[uuid.UUID, Row] = field(default_factory=dict)
    unreconciled: dict[uuid.UUID, Row] = field(default_factory=dict)
    # what the unique indexes of transactions keep unique
    weeks: set[tuple[str, str, dt.date]] = field(default_factory=set)
    payments: set[uuid.UUID] = field(default_factory=set)
    journal_keys: set[tuple[uuid.UUID, int]] = field(default_factory=set)

    def copy(self) -> "Tables":
        """A copy to change: the containers are copied, the rows shared (rows are replaced,
        never changed in place)."""
        return Tables(**{k: v.copy() if hasattr(v, "copy") else v for k, v in vars(self).items()})


def _unique(seen: Any, key: Any, what: str) -> None:
    if key in seen:
        raise Conflict(f"duplicate {what}: {key}")


class MemoryAccounts:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def find(self, refs: Sequence[str]) -> list[Row]:
        return [{"account_ref": ref} for ref in refs if ref in self.t.accounts]

    async def by_dd_reference(self, refs: Sequence[str]) -> dict[str, list[str]]:
        by_dd: dict[str, list[str]] = {}
        for a in self.t.accounts.values():
            if a["dd_reference"]:
                by_dd.setdefault(a["dd_reference"], []).append(a["account_ref"])
        return {ref: by_dd.get(ref) or ([ref] if ref in self.t.accounts else []) for ref in refs}

    async def lock_balances(self, refs: Iterable[str]) -> dict[str, int]:
        return await self.balances(sorted(set(refs)))

    async def balances(self, refs: Iterable[str]) -> dict[str, int]:
        return {r: self.t.accounts[r]["balance_pence"] for r in refs if r in self.t.accounts}

    async def move_for_receipts(self, deltas: Mapping[str, int], at: dt.datetime) -> tuple[dict[str, int],
                                                                                    dict[str, dt.date]]:
        accounts = self.t.accounts
        before = await self.lock_balances(deltas)
        await self.update_balances({r: b + deltas[r] for r, b in before.items()}, before, at)
        return before, {r: accounts[r]["tenancy_end"] for r in before if accounts[r]["tenancy_end"] is not None}

    async def update_balances(self, balances: Mapping[str, int], refs: Iterable[str], at: dt.datetime) -> None:
        for r in refs:
            if r in self.t.accounts:
                self.t.accounts[r] = {**self.t.accounts[r], "balance_pence": balances[r], "updated_at": at}

    async def lock_chunk(self, after: str, limit: int) -> list[Row]:
        return [dict(a) for ref, a in sorted(self.t.accounts.items()) if ref > after][:limit]

    async def lock_for_import(self) -> None:
        pass

    async def lock_existing(self, refs: Sequence[str]) -> dict[str, Row]:
        return {r: dict(self.t.accounts[r]) for r in refs if r in self.t.accounts}

    async def add(self, new: Sequence[tuple[AccountRecord, str]], at: dt.datetime) -> None:
        for rec, digest in new:
            _unique(self.t.accounts, rec.account_ref, "account")
            self.t.accounts[rec.account_ref] = {
                **{f: getattr(rec, f) for f in ACCOUNT_FIELDS}, "balance_pence": 0, "content_hash": digest,
                "version": 1, "created_at": at, "updated_at": at}

    async def update(self, changed: Sequence[tuple[AccountRecord, str, int]], at: dt.datetime) -> None:
        for rec, digest, version in changed:
            row = self.t.accounts.get(rec.account_ref)
            if row is not None:
                self.t.accounts[rec.account_ref] = {
                    **row, **{f: getattr(rec, f) for f in ACCOUNT_FIELDS if f != "opening_balance_pence"},
                    "content_hash": digest, "version": version, "updated_at": at}


class MemoryPostings:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def taken(self, payment_ids: Sequence[uuid.UUID], transaction_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {p for p in payment_ids if p in self.t.payments or p in self.t.suspense}

    async def add_transactions(self, transactions: Sequence[Transaction], posted_at: dt.datetime) -> None:
        for t in transactions:
            _unique(self.t.transactions, t.transaction_id, "transaction")
            if t.week_start is not None:
                _unique(self.t.weeks, (t.account_ref, t.type_code, t.week_start), "debit for the week")
                self.t.weeks.add((t.account_ref, t.type_code, t.week_start))
            if t.payment_id is not None:
                # PostgreSQL: the primary key, the posting's id being the payment's (receipt_transaction_id)
                _unique(self.t.payments, t.payment_id, "posting of the payment")
                self.t.payments.add(t.payment_id)
            self.t.transactions[t.transaction_id] = {
                "seq": len(self.t.transactions) + 1, "transaction_id": t.transaction_id,
                "account_ref": t.account_ref, "type_code": t.type_code, "amount_pence": t.amount_pence,
                "balance_after_pence": t.balance_after_pence, "posted_at": posted_at,
                "business_date": t.business_date, "period": t.period, "source_ref": t.source_ref,
                "channel": t.channel, "payment_id": t.payment_id, "allocation_rule": t.allocation_rule,
                "week_start": t.week_start}

    async def add_transaction_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for (transaction_id, ref, code, amount, balance, posted_at, business_date, period, source_ref, channel,
             payment_id, rule, week) in rows:
            await self.add_transactions([Transaction(
                uuid.UUID(str(transaction_id)), ref, code, amount, balance, business_date, source_ref, channel, payment_id, rule, week,
                period)], posted_at)

    async def add_debit_journal_rows(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for (journal_id, n, kind, source_ref, gl_code, debit, credit, ref, business_date, period, posted_at) in rows:
            _unique(self.t.journal_keys, (journal_id, n), "journal line")
            self.t.journal_keys.add((journal_id, n))
            self.t.journal_lines.append({
                "journal_id": journal_id, "line_no": n, "kind": kind, "source_ref": source_ref, "gl_code": gl_code,
                "debit_pence": debit, "credit_pence": credit, "account_ref": ref, "business_date": business_date,
                "period": period, "posted_at": posted_at})

    async def add_journals(self, journals: Iterable[Journal], posted_at: dt.datetime) -> None:
        for j in journals:
            for n, line in enumerate(j.lines, 1):
                _unique(self.t.journal_keys, (j.journal_id, n), "journal line")
                self.t.journal_keys.add((j.journal_id, n))
                self.t.journal_lines.append({
                    "journal_id": j.journal_id, "line_no": n, "kind": j.kind, "source_ref": j.source_ref,
                    "gl_code": line.gl_code, "debit_pence": line.debit_pence, "credit_pence": line.credit_pence,
                    "account_ref": line.account_ref, "business_date": j.business_date, "period": j.period,
                    "posted_at": posted_at})

    async def get(self, transaction_id: uuid.UUID) -> Row | None:
        row = self.t.transactions.get(transaction_id)
        return dict(row) if row else None

    async def receipts_of(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        wanted = set(payment_ids)
        out: dict[uuid.UUID, Row] = {}
        for t in self.t.transactions.values():
            if t["payment_id"] in wanted and t["amount_pence"] < 0:
                move = self.t.moves.get(t["transaction_id"])
                out[t["payment_id"]] = {"payment_id": t["payment_id"], "amount": -t["amount_pence"],
                                        "account_ref": move["to_account_ref"] if move else t["account_ref"],
                                        "channel": t["channel"]}
        return out

    async def dd_collections(self, keys: Sequence[tuple[str, dt.date, int]]
                             ) -> dict[tuple[str, dt.date, int], uuid.UUID]:
        wanted = set(keys)
        out: dict[tuple[str, dt.date, int], uuid.UUID] = {}
        for t in self.t.transactions.values():  # in seq order: the first one wins
            key = (t["account_ref"], t["business_date"], -t["amount_pence"])
            if t["type_code"] == "RDD" and key in wanted:
                out.setdefault(key, t["transaction_id"])
        return out

    async def raised_debits(self, refs: Sequence[str], since: dt.date) -> set[tuple[str, str, dt.date]]:
        wanted = set(refs)
        return {k for k in self.t.weeks if k[0] in wanted and k[2] >= since}

    async def move_of(self, transaction_id: uuid.UUID) -> Row | None:
        row = self.t.moves.get(transaction_id)
        return dict(row) if row else None

    async def add_move(self, transaction_id: uuid.UUID, from_ref: str, to_ref: str, by: str, note: str,
                       at: dt.datetime) -> None:
        _unique(self.t.moves, transaction_id, "receipt move")
        self.t.moves[transaction_id] = {"transaction_id": transaction_id, "from_account_ref": from_ref,
                                        "to_account_ref": to_ref, "moved_by": by, "note": note, "moved_at": at}


class MemorySuspense:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def add(self, records: Sequence[tuple[Any, ...]]) -> None:
        for rec in records:
            row = dict(zip(SUSPENSE_COLUMNS, rec))
            _unique(self.t.suspense, row["payment_id"], "suspense item")
            row.update(account_ref=None, transaction_id=None, allocated_by=None, note=None, allocated_at=None,
                       allocated_period=None)
            self.t.suspense[row["payment_id"]] = row

    async def lock(self, payment_id: uuid.UUID) -> Row | None:
        row = self.t.suspense.get(payment_id)
        return dict(row) if row else None

    async def lock_open(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        return {p: dict(self.t.suspense[p]) for p in payment_ids
                if p in self.t.suspense and self.t.suspense[p]["allocated_at"] is None}

    async def allocate(self, payment_id: uuid.UUID, account_ref: str, transaction_id: uuid.UUID, by: str, note: str,
                       at: dt.datetime, period: str) -> None:
        self.t.suspense[payment_id] = {**self.t.suspense[payment_id], "account_ref": account_ref,
                                       "transaction_id": transaction_id, "allocated_by": by, "note": note,
                                       "allocated_at": at, "allocated_period": period}

    async def close_reversed(self, closed: Sequence[tuple[uuid.UUID, str, dt.datetime, str]]) -> None:
        for pid, note, at, period in closed:
            self.t.suspense[pid] = {**self.t.suspense[pid], "allocated_by": "reversal", "note": note,
                                    "allocated_at": at, "allocated_period": period}


class MemoryReversals:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def seen(self, reversal_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r for r in reversal_ids if r in self.t.reversals}

    async def lock_against_payments(self) -> None:
        """One unit of work at a time in memory: nothing to wait for."""

    async def lock_against_new_reversals(self) -> None:
        """As lock_against_payments."""

    async def lock_pending(self, payment_ids: Sequence[uuid.UUID]) -> list[Row]:
        wanted = set(payment_ids)
        return sorted((dict(r) for r in self.t.reversals.values()
                       if r["status"] == "pending" and r["payment_id"] in wanted),
                      key=lambda r: r["created_at"])  # a stable sort: then in the order they came

    async def applied(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        out: dict[uuid.UUID, int] = {}
        for r in self.t.reversals.values():
            if r["payment_id"] in payment_ids and r["status"] in ("posted", "suspense"):
                out[r["payment_id"]] = out.get(r["payment_id"], 0) + r["amount_pence"]
        return out

    async def record(self, records: Sequence[tuple[Any, ...]]) -> None:
        for rec in records:
            row = dict(zip(REVERSAL_COLUMNS, rec))
            old = self.t.reversals.get(row["reversal_id"])
            if old is None:
                self.t.reversals[row["reversal_id"]] = row
            else:
                self.t.reversals[row["reversal_id"]] = {
                    **old, **{k: row[k] for k in ("status", "account_ref", "transaction_id", "applied_at")}}


class MemoryMandates:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def states(self, refs: Sequence[str]) -> dict[str, str]:
        return {r: self.t.mandates[r]["state"] for r in refs if r in self.t.mandates}

    async def upsert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for ref, account, state, code, description, instruction_id, effective, at in rows:
            old = self.t.mandates.get(ref)
            self.t.mandates[ref] = {
                "reference": ref, "account_ref": account if account is not None or old is None else old["account_ref"],
                "state": state, "reason_code": code, "description": description, "instruction_id": instruction_id,
                "effective_date": effective, "updated_at": at,
                "lodgement_serial": old.get("lodgement_serial") if old else None}

    async def returns_seen(self, return_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {r for r in return_ids if r in self.t.dd_returns}

    async def add_returns(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for rec in rows:
            row = dict(zip(RETURN_COLUMNS, rec))
            _unique(self.t.dd_returns, row["return_id"], "DD return")
            self.t.dd_returns[row["return_id"]] = row

    async def instructions_seen(self, instruction_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {i for i in instruction_ids if i in self.t.instructions}

    async def add_instructions(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for iid, account, state, received in rows:
            _unique(self.t.instructions, iid, "mandate instruction")
            self.t.instructions[iid] = {"instruction_id": iid, "account_ref": account, "new_state": state,
                                        "received_at": received}


class MemoryAdjustments:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def upsert_approver(self, name: str, role: str) -> bool:
        created = name not in self.t.approvers
        self.t.approvers[name] = {"name": name, "role": role, "updated_at": dt.datetime.now(dt.timezone.utc)}
        return created

    async def approvers(self) -> list[Row]:
        return [{"name": a["name"], "role": a["role"]} for _, a in sorted(self.t.approvers.items())]

    async def role_of(self, name: str) -> str | None:
        return next((a["role"] for a in self.t.approvers.values() if a["name"].lower() == name.lower()), None)

    async def add(self, request_id: uuid.UUID, account_ref: str, type_: str, amount: int, to_account_ref: str | None,
                  reason: str, by: str) -> Row:
        _unique(self.t.adjustments, request_id, "adjustment request")
        row = {"request_id": request_id, "account_ref": account_ref, "type": type_, "amount_pence": amount,
               "to_account_ref": to_account_ref, "reason": reason, "requested_by": by,
               "requested_at": dt.datetime.now(dt.timezone.utc), "status": "pending", "approved_by": None,
               "approved_at": None, "transaction_ids": None}
        self.t.adjustments[request_id] = row
        return dict(row)

    async def get(self, request_id: uuid.UUID, *, lock: bool = False) -> Row | None:
        row = self.t.adjustments.get(request_id)
        return dict(row) if row else None

    async def list(self, status: str | None) -> list[Row]:
        return [dict(r) for r in sorted(self.t.adjustments.values(), key=lambda r: r["requested_at"])
                if status is None or r["status"] == status]

    async def approve(self, request_id: uuid.UUID, by: str, at: dt.datetime,
                      transaction_ids: Sequence[uuid.UUID]) -> Row:
        row = self.t.adjustments[request_id] = {
            **self.t.adjustments[request_id], "status": "approved", "approved_by": by, "approved_at": at,
            "transaction_ids": list(transaction_ids)}
        return dict(row)


class MemoryPeriods:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def state(self, *, lock: bool = True) -> State:
        return State(self.t.token, self.t.generation, list(self.t.closed_periods))

    async def reference_index(self, state: State) -> ReferenceIndex:
        return ReferenceIndex.build((a["account_ref"], a["dd_reference"], a["so_reference"])
                                    for a in self.t.accounts.values())

    async def references_changed(self) -> None:
        self.t.generation += 1

    async def lock_for_close(self) -> None:
        pass

    async def closed(self, period: str) -> Row | None:
        row = self.t.periods.get(period)
        return dict(row) if row else None

    async def close(self, period: str, at: dt.datetime, by: str) -> None:
        _unique(self.t.periods, period, "period")
        self.t.periods[period] = {"period": period, "closed_at": at, "closed_by": by}
        self.t.closed_periods.append(period)

    async def list(self) -> list[Row]:
        return [dict(r) for _, r in sorted(self.t.periods.items())]


class MemoryRents:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def history(self, refs: Sequence[str]) -> list[Row]:
        wanted = set(refs)
        return [{"account_ref": r["account_ref"], "effective_date": r["effective_date"],
                 "new_weekly_rent_pence": r["new_weekly_rent_pence"],
                 "new_weekly_charges_pence": r["new_weekly_charges_pence"]}
                for _, r in sorted(self.t.rent_changes.items()) if r["account_ref"] in wanted]

    async def rent_free_weeks(self) -> dict[int, set[int]]:
        table: dict[int, set[int]] = {}
        for year, week in self.t.rent_free:
            table.setdefault(year, set()).add(week)
        return table

    async def set_rent_free_weeks(self, rent_year: int, weeks: Sequence[int]) -> None:
        self.t.rent_free = {k for k in self.t.rent_free if k[0] != rent_year} | {(rent_year, w) for w in weeks}

    async def in_force(self, effective: dt.date) -> list[Row]:
        out = []
        for ref, a in sorted(self.t.accounts.items()):
            if a["tenancy_start"] > effective or (a["tenancy_end"] is not None and a["tenancy_end"] < effective):
                continue
            earlier = [r for (r_ref, day), r in sorted(self.t.rent_changes.items()) if r_ref == ref and day < effective]
            last = earlier[-1] if earlier else None
            out.append({"account_ref": ref, "tenant_name": a["tenant_name"], "property": a["property"],
                        "patch": a["patch"], "payment_method": a["payment_method"],
                        "rent": last["new_weekly_rent_pence"] if last else a["weekly_rent_pence"],
                        "charges": last["new_weekly_charges_pence"] if last else a["weekly_charges_pence"]})
        return out

    async def add_changes(self, effective: dt.date, changes: Sequence[tuple[str, uuid.UUID, int, int, int]],
                          reason: str, at: dt.datetime) -> set[str]:
        inserted = set()
        for ref, change_id, old, new, charges in changes:
            if (ref, effective) in self.t.rent_changes:
                continue
            self.t.rent_changes[(ref, effective)] = {
                "account_ref": ref, "effective_date": effective, "change_id": change_id,
                "old_weekly_rent_pence": old, "new_weekly_rent_pence": new, "old_weekly_charges_pence": charges,
                "new_weekly_charges_pence": charges, "reason": reason, "created_at": at}
            inserted.add(ref)
        return inserted


class MemoryLumps:
    """adapters/reconciliation.py's SqlLumps in memory."""

    def __init__(self, t: Tables) -> None:
        self.t = t

    async def lock(self) -> None:
        pass

    async def add_detail(self, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID | None, dt.date, int, str | None, int]],
                         at: dt.datetime) -> set[str]:
        channels = set()
        for pid, channel, imp, day, amount, payout, fee in rows:
            if pid not in self.t.lump_detail:
                self.t.lump_detail[pid] = {"payment_id": pid, "channel": channel, "import_id": imp,
                                           "business_date": day, "amount_pence": amount, "lump_id": None,
                                           "payout_key": payout, "fee_pence": fee}
                channels.add(channel)
        return channels

    async def add_receipt_detail(self, rows: Sequence[tuple[uuid.UUID, str, uuid.UUID | None, dt.date, int, str | None,
                                                            int]], at: dt.datetime, *, untaken: bool = False) -> set[str]:
        return await self.add_detail(rows, at)

    async def seen(self, payment_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return {p for p in payment_ids if p in self.t.lumps}

    async def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for rec in rows:
            row = dict(zip(LUMP_COLUMNS, rec))
            self.t.lumps.setdefault(row["payment_id"], row)

    async def groups(self, channel: str, earliest: dt.date, latest: dt.date) -> list[Any]:
        open_rows = [r for r in self.t.lump_detail.values() if r["lump_id"] is None and r["channel"] == channel]
        out = []
        by: dict[str, list[Row]] = {}
        for r in open_rows:
            if r["payout_key"] is not None:  # a payout's detail belongs to it alone
                by.setdefault(r["payout_key"], []).append(r)
                continue
            if r["import_id"] is not None:
                by.setdefault(f"import:{r['import_id']}", []).append(r)
            if earliest <= r["business_date"] <= latest:
                by.setdefault(f"day:{r['business_date'].isoformat()}", []).append(r)
        for key, rs in by.items():
            if earliest <= max(r["business_date"] for r in rs) <= latest:
                out.append(_detail_group(key, channel, rs))
        return out

    async def payout_groups(self, channel: str, keys: Sequence[str]) -> list[Any]:
        by: dict[str, list[Row]] = {}
        for r in self.t.lump_detail.values():
            if r["lump_id"] is None and r["channel"] == channel and r["payout_key"] in keys:
                by.setdefault(r["payout_key"], []).append(r)
        return [_detail_group(k, channel, rs) for k, rs in by.items()]

    async def settle(self, lump_id: uuid.UUID, channel: str, key: str) -> int:
        n = 0
        for pid, r in list(self.t.lump_detail.items()):
            if r["lump_id"] is not None or r["channel"] != channel:
                continue
            if key.startswith("payout:") or r["payout_key"] is not None:
                hit = r["payout_key"] == key
            else:
                hit = (str(r["import_id"]) == key.removeprefix("import:") if key.startswith("import:")
                       else r["business_date"].isoformat() == key.removeprefix("day:"))
            if hit:
                self.t.lump_detail[pid] = {**r, "lump_id": lump_id}
                n += 1
        return n

    async def set_status(self, payment_id: uuid.UUID, status: str, key: str | None) -> None:
        self.t.lumps[payment_id] = {**self.t.lumps[payment_id], "status": status, "matched_key": key}

    async def set_matched(self, payment_id: uuid.UUID, key: str, at: dt.datetime) -> None:
        self.t.lumps[payment_id] = {**self.t.lumps[payment_id], "status": "matched", "matched_key": key,
                                    "matched_at": at}

    async def of(self, payment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        return {p: dict(self.t.lumps[p]) for p in payment_ids if p in self.t.lumps}

    async def set_reversed(self, payment_id: uuid.UUID, at: dt.datetime) -> None:
        self.t.lumps[payment_id] = {**self.t.lumps[payment_id], "status": "reversed", "reversed_at": at}

    async def any_open(self, kinds: Sequence[str]) -> bool:
        return any(r["status"] in OPEN and r["kind"] in kinds for r in self.t.lumps.values())

    async def open(self, kinds: Sequence[str]) -> list[Row]:
        return sorted((dict(r) for r in self.t.lumps.values()
                       if r["status"] in OPEN and r["kind"] in kinds),
                      key=lambda r: (r["value_date"], str(r["payment_id"])))


LUMP_COLUMNS = ["payment_id", "provider_id", "provider_ref", "kind", "amount_pence", "value_date", "reference",
                "payer_name", "status", "matched_key", "matched_at", "created_at", "channel", "payout_id"]
OPEN = ("unmatched", "ambiguous", "mismatch")


class MemoryUnreconciled:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def open(self, rows: Sequence[tuple[uuid.UUID, str, int | None, str, dt.date, str, dt.datetime]]
                   ) -> set[uuid.UUID]:
        new = set()
        for iid, kind, amount, reference, day, reason, at in rows:
            if iid not in self.t.unreconciled:
                self.t.unreconciled[iid] = {"item_id": iid, "kind": kind, "status": "open", "amount_pence": amount,
                                            "reference": reference, "business_date": day, "reason": reason,
                                            "created_at": at, "resolved_at": None}
                new.add(iid)
        return new

    async def resolve(self, item_ids: Sequence[uuid.UUID], at: dt.datetime) -> set[uuid.UUID]:
        done = set()
        for iid in item_ids:
            row = self.t.unreconciled.get(iid)
            if row and row["status"] == "open":
                self.t.unreconciled[iid] = {**row, "status": "resolved", "resolved_at": at}
                done.add(iid)
        return done

    async def reword(self, item_id: uuid.UUID, reason: str) -> bool:
        row = self.t.unreconciled.get(item_id)
        if row is None or row["status"] != "open" or row["reason"] == reason:
            return False
        self.t.unreconciled[item_id] = {**row, "reason": reason}
        return True

    async def list(self, status: str | None = None) -> list[Row]:
        return [dict(r) for r in self.t.unreconciled.values() if status is None or r["status"] == status]


class MemoryCashBook:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def dd_collections_in_suspense(self, keys: Sequence[tuple[str, dt.date, int]]
                                         ) -> dict[tuple[str, dt.date, int], Row]:
        out: dict[tuple[str, dt.date, int], Row] = {}
        for key in keys:
            ref, day, amount = key
            for s in sorted(self.t.suspense.values(), key=lambda r: (r["opened_at"], str(r["payment_id"]))):
                if (s["channel"] == "direct_debit" and s["business_date"] == day and s["amount_pence"] == amount
                        and "".join(s["reference"].split()).replace("-", "").upper() == ref
                        and s["allocated_by"] != "reversal"):
                    out[key] = dict(s)
                    break
        return out

    async def returns(self, return_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Row]:
        return {r: {"cancelled_by": None, **self.t.dd_returns[r]} for r in return_ids if r in self.t.dd_returns}

    async def add_cancellations(self, rows: Sequence[tuple[Any, ...]]) -> None:
        for (rid, account, ref, amount, code, original, reported, txn, failure, cancels, at) in rows:
            _unique(self.t.dd_returns, rid, "DD return")
            self.t.dd_returns[rid] = {"return_id": rid, "account_ref": account, "reference": ref,
                                      "amount_pence": amount, "return_code": code,
                                      "original_processing_date": original, "reported_on": reported,
                                      "transaction_id": txn, "original_transaction_id": None, "failure_id": failure,
                                      "created_at": at, "cancels_return_id": cancels, "cancelled_by": None}
            if txn is not None and cancels in self.t.dd_returns:
                self.t.dd_returns[cancels] = {**self.t.dd_returns[cancels], "cancelled_by": rid}

    async def refunds(self, at_least_pence: int) -> list[Row]:
        return sorted(({"request_id": a["request_id"], "account_ref": a["account_ref"],
                        "amount_pence": a["amount_pence"], "approved_at": a["approved_at"]}
                       for a in self.t.adjustments.values()
                       if a["type"] == "refund" and a["status"] == "approved" and a["amount_pence"] >= at_least_pence),
                      key=lambda r: r["approved_at"])

    async def returned_refunds(self) -> set[uuid.UUID]:
        return {r["refund_request_id"] for r in self.t.reversals.values()
                if r["kind"] == "outgoing_returned" and r.get("refund_request_id")}

    async def set_refunds(self, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]) -> None:
        for rid, req in pairs:
            self.t.reversals[rid] = {**self.t.reversals[rid], "refund_request_id": req}

    async def lodged(self, serials: Sequence[str]) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = {s: [] for s in serials}
        for ref, m in sorted(self.t.mandates.items()):
            if m.get("lodgement_serial") in out:
                out[m["lodgement_serial"]].append(dict(m))
        return out

    async def set_lodgements(self, pairs: Sequence[tuple[str, str]]) -> None:
        for ref, serial in pairs:
            if ref in self.t.mandates:
                self.t.mandates[ref] = {**self.t.mandates[ref], "lodgement_serial": serial}


class MemoryLedgerUnitOfWork(Emitter):
    """A unit of work on a copy of the ledger's tables: `commit()` makes the copy the tables and
    appends what was emitted to the outbox; leaving without committing drops both."""

    def __init__(self, ledger: "MemoryLedger", *, producer: str = "ledger", correlation_id: str | None = None) -> None:
        super().__init__(producer, correlation_id)
        self._ledger = ledger
        self.audited: list[dict[str, Any]] = []
        self._begin()

    def _begin(self) -> None:
        t = self.tables = self._ledger.tables.copy()
        self.accounts = MemoryAccounts(t)
        self.postings = MemoryPostings(t)
        self.suspense = MemorySuspense(t)
        self.reversals = MemoryReversals(t)
        self.mandates = MemoryMandates(t)
        self.adjustments = MemoryAdjustments(t)
        self.periods = MemoryPeriods(t)
        self.rents = MemoryRents(t)
        self.lumps = MemoryLumps(t)
        self.unreconciled = MemoryUnreconciled(t)
        self.cashbook = MemoryCashBook(t)

    async def __aenter__(self) -> "MemoryLedgerUnitOfWork":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.emitted, self.audited = [], []  # and the copy of the tables: anything not committed is gone

    def audit(self, action: str, *, subject: object = None, account_ref: str | None = None,
              before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
        """Kept with the change, as the audit trail is written at commit."""
        self.audited.append({"action": action, "subject": None if subject is None else str(subject),
                             "account_ref": account_ref, "before": before, "after": after})

    async def write_emitted(self) -> None:
        """Nothing to do here: what was emitted is kept, in order, until the commit appends it."""

    async def commit(self) -> None:
        self._ledger.tables = self.tables
        self._ledger.outbox += self.emitted
        self._ledger.audit += self.audited
        self.emitted, self.audited = [], []
        self._begin()


class MemoryLedger:
    """The ledger's tables and outbox in memory; `uow()` opens a unit of work on them."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.outbox: list[OutboxRow] = []
        self.audit: list[dict[str, Any]] = []

    def uow(self, *, correlation_id: str | None = None) -> MemoryLedgerUnitOfWork:
        return MemoryLedgerUnitOfWork(self, correlation_id=correlation_id)


def _detail_group(key: str, channel: str, rows: list[Row]) -> Any:
    """As the SQL adapter totals a group: charges, their fees, and what was taken back (negative detail)."""
    from rentflow_ledger.domain.lumps import DetailGroup

    days = [r["business_date"] for r in rows]
    charges = [r["amount_pence"] for r in rows if r["amount_pence"] > 0]
    return DetailGroup(key, channel, min(days), max(days), sum(charges), len(charges),
                       sum(r["fee_pence"] for r in rows), -sum(r["amount_pence"] for r in rows if r["amount_pence"] < 0))
