"""Read side: accounts, suspense queue, GL reconciliation and the ledger invariants."""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Sequence

from rentflow_common.db import as_of_one_moment
from rentflow_common.money import pounds
from rentflow_ledger.adapters.reconciliation import SqlLumps, SqlUnreconciled
from rentflow_ledger.domain.codes import GL_CODES
from rentflow_ledger.domain.posting import LONDON
from rentflow_ledger.domain.references import normalise_reference

ACCOUNT_COLUMNS = ("account_ref, tenant_name, property, patch, tenancy_start, tenancy_end, weekly_rent_pence, "
                   "weekly_charges_pence, payment_method, dd_reference, so_reference, officer, balance_date, balance_pence, "
                   "updated_at")


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v


def _account(row: Any) -> dict[str, Any]:
    return {k: _iso(v) for k, v in dict(row).items()}


async def get_account(raw: Any, account_ref: str) -> dict[str, Any] | None:
    """The account, its mandate and its transactions as of one moment: three reads in one snapshot, so
    the balance is always the last transaction's (read committed, a batch committed between them showed
    a balance without the postings listed). The first statement of the caller's unit of work."""
    await as_of_one_moment(raw)
    row = await raw.fetchrow(f"select {ACCOUNT_COLUMNS} from accounts where account_ref = $1",
                             normalise_reference(account_ref))
    if row is None:
        return None
    account = _account(row)
    account["mandate_state"] = await raw.fetchval(
        "select state from mandates where account_ref = $1 order by updated_at desc limit 1", row["account_ref"])
    txns = await raw.fetch(
        "select transaction_id, posted_at, business_date, type_code, amount_pence, balance_after_pence, "
        "source_ref, allocation_rule, channel, payment_id, week_start from transactions "
        "where account_ref = $1 order by seq", row["account_ref"])
    account["transactions"] = [{
        "transaction_id": str(t["transaction_id"]), "posted_at": t["posted_at"].isoformat(),
        "business_date": t["business_date"].isoformat(), "type": t["type_code"], "amount_pence": t["amount_pence"],
        "balance_after_pence": t["balance_after_pence"], "source_ref": t["source_ref"],
        "allocation_rule": t["allocation_rule"], "channel": t["channel"],
        "payment_id": str(t["payment_id"]) if t["payment_id"] else None,
        "week_start": _iso(t["week_start"])} for t in txns]
    return account


async def list_accounts(raw: Any, limit: int, offset: int, patches: Sequence[str] | None = None,
                        after: str | None = None) -> dict[str, Any]:
    """Accounts by reference; only those in `patches` when given (an officer's); only those after the
    reference `after` when given (a page after the last one seen: an account imported meanwhile cannot
    shift the next page onto one already seen, as it can with `offset`). The page and its total in one
    snapshot, so an import committed between them cannot give a total that is not the page's."""
    await as_of_one_moment(raw)
    scope = None if patches is None else list(patches)
    rows = await raw.fetch(f"select {ACCOUNT_COLUMNS} from accounts where ($3::text[] is null or patch = any($3)) "
                           "and ($4::text is null or account_ref > $4) order by account_ref limit $1 offset $2",
                           limit, offset, scope, None if after is None else normalise_reference(after))
    total = await raw.fetchval("select count(*) from accounts where ($1::text[] is null or patch = any($1))", scope)
    return {"accounts": [_account(r) for r in rows], "total": total}


async def account_patches(raw: Any, refs: Iterable[str]) -> dict[str, str]:
    """The patch of each known account among `refs` (as given → its patch); unknown ones are left out."""
    given = {normalise_reference(r): r for r in refs if r}
    rows = await raw.fetch("select account_ref, patch from accounts where account_ref = any($1::text[])", list(given))
    return {given[r["account_ref"]]: r["patch"] for r in rows}


async def transaction_account(raw: Any, transaction_id: Any) -> str | None:
    return await raw.fetchval("select account_ref from transactions where transaction_id = $1", transaction_id)


async def list_suspense(raw: Any) -> dict[str, Any]:
    rows = await raw.fetch(
        "select payment_id, amount_pence, channel, reference, payer_name, received_at, reason, provider_id, "
        "provider_ref from suspense where allocated_at is null order by received_at, payment_id")
    today = dt.datetime.now(LONDON).date()
    items = [{"payment_id": str(r["payment_id"]), "amount_pence": r["amount_pence"], "channel": r["channel"],
              "reference": r["reference"], "payer_name": r["payer_name"], "received_at": r["received_at"].isoformat(),
              "reason": r["reason"], "age_days": (today - r["received_at"].astimezone(LONDON).date()).days,
              "provider_id": r["provider_id"], "provider_ref": r["provider_ref"]} for r in rows]
    return {"items": items, "count": len(items), "total_pence": sum(i["amount_pence"] for i in items)}


async def cash_book(raw: Any, lumps: str, items: str, limit: int) -> tuple[list[Any], list[Any]]:
    """The cash book's lump sums and finance items (a status, "all" or "none" each) as of one moment: a lump
    matched or opened in a batch committed between the two reads showed without the item it resolved or
    opened, or the item without its lump."""
    await as_of_one_moment(raw)
    found = [] if lumps == "none" else await SqlLumps(raw).listing(None if lumps == "all" else lumps, limit)
    open_items = [] if items == "none" else await SqlUnreconciled(raw).list(None if items == "all" else items)
    return found, open_items


async def invariants(raw: Any) -> dict[str, Any]:
    """The sum of balances, the control account and the journals in one snapshot: read committed, a batch
    committed between the first two reads showed the books unbalanced."""
    await as_of_one_moment(raw)
    accounts_total = await raw.fetchval("select coalesce(sum(balance_pence), 0)::bigint from accounts")
    control = await raw.fetchval(
        "select coalesce(sum(debit_pence - credit_pence), 0)::bigint from journal_lines where gl_code = $1",
        GL_CODES["debtors_control"])
    unbalanced = await raw.fetchval(
        "select count(*) from (select journal_id from journal_lines group by journal_id "
        "having sum(debit_pence) <> sum(credit_pence)) j")
    return {"balanced": accounts_total == control and unbalanced == 0, "accounts_total_pence": accounts_total,
            "control_account_pence": control, "unbalanced_journals": unbalanced}


async def reconcile(raw: Any, period: str) -> dict[str, Any]:
    """Rent accounts against the GL as at the end of `period`: the sum of account balances
    (every posting dated in or before it) equals the debtors control account; per account, the
    postings equal the control lines naming it; every journal of the period balances; the
    suspense GL balance equals the queue of receipts unallocated at period end. Every read in one snapshot:
    a batch committed between them would show differences that are not there."""
    await as_of_one_moment(raw)
    control_code, suspense_code = GL_CODES["debtors_control"], GL_CODES["suspense"]
    accounts_total = await raw.fetchval(
        "select coalesce(sum(amount_pence), 0)::bigint from transactions where period <= $1", period)
    control = await raw.fetchval(
        "select coalesce(sum(debit_pence - credit_pence), 0)::bigint from journal_lines "
        "where gl_code = $1 and period <= $2", control_code, period)
    differences: list[dict[str, Any]] = []
    for r in await raw.fetch(
            """with a as (select account_ref, sum(amount_pence) as amount from transactions
                          where period <= $2 group by account_ref),
                    c as (select account_ref, sum(debit_pence - credit_pence) as amount from journal_lines
                          where gl_code = $1 and period <= $2 group by account_ref)
               select coalesce(a.account_ref, c.account_ref) as account_ref,
                      (coalesce(a.amount, 0) - coalesce(c.amount, 0))::bigint as diff
               from a full join c on a.account_ref = c.account_ref
               where coalesce(a.amount, 0) <> coalesce(c.amount, 0)
               order by 1 limit 1000""", control_code, period):
        differences.append({"account_ref": r["account_ref"], "amount_pence": r["diff"],
                            "reason": "account postings differ from its debtors control lines"})
    for r in await raw.fetch(
            "select journal_id, (sum(debit_pence) - sum(credit_pence))::bigint as diff from journal_lines where period = $1 "
            "group by journal_id having sum(debit_pence) <> sum(credit_pence) order by 1 limit 1000", period):
        differences.append({"journal_id": str(r["journal_id"]), "amount_pence": r["diff"],
                            "reason": "journal does not balance (debits minus credits)"})
    # the stored balances (what officers see) against the postings, as they stand now
    for r in await raw.fetch(
            """select a.account_ref, a.balance_pence, coalesce(t.total, 0)::bigint as total
               from accounts a left join (select account_ref, sum(amount_pence) as total from transactions
                                          group by account_ref) t on t.account_ref = a.account_ref
               where a.balance_pence <> coalesce(t.total, 0) order by 1 limit 1000"""):
        differences.append({"account_ref": r["account_ref"], "amount_pence": r["balance_pence"] - r["total"],
                            "reason": f"stored balance {pounds(r['balance_pence'])} differs from the sum of its "
                                      f"postings {pounds(r['total'])} (as now)"})
    suspense_gl = await raw.fetchval(
        "select coalesce(sum(credit_pence - debit_pence), 0)::bigint from journal_lines "
        "where gl_code = $1 and period <= $2", suspense_code, period)
    queue = await raw.fetchval(
        "select coalesce(sum(amount_pence), 0)::bigint from suspense where period <= $1 "
        "and (allocated_period is null or allocated_period > $1)", period)
    if suspense_gl != queue:
        differences.append({"gl_code": suspense_code, "amount_pence": suspense_gl - queue,
                            "reason": f"suspense GL balance {pounds(suspense_gl)} differs from the queue "
                                      f"{pounds(queue)} at period end"})
    if accounts_total != control and not differences:
        differences.append({"gl_code": control_code, "amount_pence": accounts_total - control,
                            "reason": "sum of account balances differs from the debtors control account"})
    closed = await raw.fetchrow("select closed_at, closed_by from periods where period = $1", period)
    return {"period": period, "balanced": accounts_total == control and not differences,
            "closed": closed is not None, "closed_by": closed["closed_by"] if closed else None,
            "accounts_total_pence": accounts_total, "control_account_pence": control,
            "suspense_pence": queue, "differences": differences}


async def gl_daily(raw: Any, day: dt.date) -> dict[str, Any]:
    """The day's batch for finance: every journal posted on `day` (Europe/London), totalled per GL
    code and period (the period a line is booked in: late items carry the next open month). The lines and
    the journal counts in one snapshot, so the counts are those of the journals totalled."""
    await as_of_one_moment(raw)
    start = dt.datetime.combine(day, dt.time(0), LONDON)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), LONDON)
    rows = await raw.fetch(
        "select gl_code, period, sum(debit_pence)::bigint as debit, sum(credit_pence)::bigint as credit, "
        "count(distinct journal_id) as journals from journal_lines where posted_at >= $1 and posted_at < $2 "
        "group by gl_code, period order by period, gl_code", start, end)
    kinds = await raw.fetch(
        "select kind, count(distinct journal_id) as n from journal_lines where posted_at >= $1 and posted_at < $2 "
        "group by kind order by kind", start, end)
    lines = [{"gl_code": r["gl_code"], "period": r["period"], "debit_pence": r["debit"], "credit_pence": r["credit"],
              "net_pence": r["debit"] - r["credit"]} for r in rows]
    debits, credits = sum(x["debit_pence"] for x in lines), sum(x["credit_pence"] for x in lines)
    return {"date": day.isoformat(), "journals": sum(r["n"] for r in kinds),
            "journals_by_kind": {r["kind"]: r["n"] for r in kinds}, "lines": lines,
            "debit_pence": debits, "credit_pence": credits, "balanced": debits == credits}
