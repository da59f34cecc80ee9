"""Tenant notices: taken in from a consumer batch (rent changes, DD failures), rendered later in
chunks by the renderer, merged into print files on request.

Intake (consumer transaction): one notice per source (rent change, DD failure), planned against
today's date: a rent change that can no longer be served in time is refused at once (status
`refused`, a NoticeEvent, a warning in the log); the others wait as `pending`.
Rendering (its own transaction per chunk): the chunk's letters are built here (domain), rendered
by `run_cpu` (a worker process) and written as files; the notices become `produced` (or `failed`,
with the error); each gets its deliveries (the letter file; an email where the account has an
address); NoticeEvents go to the outbox. A chunk rendered on a later day than it was planned is
re-dated and checked again, so a backlog can never serve a notice late."""
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Sequence

from rentflow_common.db import UnitOfWork
from rentflow_common.events import Msg
from rentflow_common.logging import get_logger
from rentflow_schemas import derive_event_id

from rentflow_notifications.adapters import notices_repo as nrepo
from rentflow_notifications.adapters import repository as repo
from rentflow_notifications.adapters.render import merge_pdfs, render_batch
from rentflow_notifications.config import NotificationsConfig
from rentflow_notifications.domain import letters as L
from rentflow_notifications.domain.dd_tasks import code_rule
from rentflow_notifications.domain.notice_dates import plan_rent_notice, representation_date, served_on
from rentflow_notifications.service_layer.events import emit_notice

log = get_logger(__name__)

RunCpu = Callable[..., Awaitable[Any]]  # run_cpu(fn, *args) -> fn(*args), off the event loop
UowFactory = Callable[[], UnitOfWork]


def notice_id_for(kind: str, source_id: uuid.UUID) -> uuid.UUID:
    return derive_event_id("notice", kind, source_id)


def _plan(notice: dict[str, Any], letter_date: dt.date, config: NotificationsConfig) -> dict[str, Any]:
    """Dates of a notice dated `letter_date`; `refusal` set when a rent notice would be late."""
    inp, rules = notice["input"], config.rules
    if notice["kind"] == L.RENT_REVIEW:
        plan = plan_rent_notice(letter_date, dt.date.fromisoformat(inp["effective_date"]),
                                dd_payer=inp["dd_payer"], rules=rules)
        return {"letter_date": letter_date, "served_on": plan.served_on, "effective_on": plan.effective_on,
                "refusal": plan.refusal}
    represent_by = dt.date.fromisoformat(inp["represent_by"]) if inp.get("represent_by") else None
    represent_on = representation_date(letter_date, represent_by, rules) if inp["may_represent"] else None
    return {"letter_date": letter_date, "served_on": served_on(letter_date, rules), "effective_on": represent_on,
            "refusal": None}


def _letter(notice: dict[str, Any], plan: dict[str, Any], config: NotificationsConfig) -> L.Letter:
    inp = notice["input"]
    if notice["kind"] == L.RENT_REVIEW:
        change = L.RentChange(notice["notice_id"], notice["account_ref"], inp["tenant_name"], inp["property"],
                              inp["old_weekly_rent_pence"], inp["new_weekly_rent_pence"],
                              inp["old_weekly_charges_pence"], inp["new_weekly_charges_pence"],
                              dt.date.fromisoformat(inp["effective_date"]), inp["reason"], inp["dd_payer"])
        return L.rent_review_letter(change, plan["letter_date"], plan["served_on"], config.rules, config.landlord)
    debit = L.ReturnedDebit(notice["notice_id"], notice["account_ref"], inp.get("payer_name") or "",
                            inp.get("property") or "", inp["amount_pence"], inp["return_code"],
                            dt.date.fromisoformat(inp["original_processing_date"]))
    return L.dd_failure_letter(debit, plan["letter_date"], plan["effective_on"], config.landlord)


# --- intake, in the consumer's transaction ---------------------------------------------------

async def take_in_rent_changes(uow: UnitOfWork, changes: Sequence[Msg[Any]], config: NotificationsConfig,
                               now: dt.datetime) -> None:
    raw = uow.raw
    directory = await repo.directory(raw, [i.data.account_ref for i in changes])
    await repo.remember_tenants(raw, {i.data.account_ref: i.data.tenant_name for i in changes
                                      if i.data.account_ref in directory})
    today = config.today()
    notices = []
    for i in changes:
        c = i.data
        known = directory.get(c.account_ref) or {}
        method = known.get("payment_method") or (str(c.payment_method) if c.payment_method else None)
        inp = {**c.model_dump(mode="json"), "dd_payer": method == "dd"}
        n = {"notice_id": notice_id_for(L.RENT_REVIEW, c.change_id), "kind": L.RENT_REVIEW, "input": inp}
        plan = _plan(n, today, config)
        notices.append({**n, "source_id": c.change_id, "account_ref": c.account_ref,
                        "status": "refused" if plan["refusal"] else "pending",
                        "run": f"{L.RENT_REVIEW}:{c.effective_date.isoformat()}", "letter_date": plan["letter_date"],
                        "served_on": plan["served_on"], "effective_on": plan["effective_on"],
                        "old_weekly_pence": c.old_weekly_rent_pence + c.old_weekly_charges_pence,
                        "new_weekly_pence": c.new_weekly_rent_pence + c.new_weekly_charges_pence,
                        "reason": plan["refusal"], "correlation_id": i.cause.correlation_id,
                        "causation_id": i.cause.event_id})
    inserted = await nrepo.insert_notices(raw, notices, now)
    _audit_generated(uow, inserted)
    _emit_refused(uow, inserted, now)


def _audit_generated(uow: UnitOfWork, notices: Sequence[dict[str, Any]]) -> None:
    """One audit entry per run of the notices a batch generated (as the service: system:notifications)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for n in notices:
        runs.setdefault(n["run"], []).append(n)
    for run, ns in runs.items():
        uow.audit("notices.generated", subject=run, after={
            "notices": len(ns), "refused": sum(1 for n in ns if n["status"] == "refused"),
            "accounts": sorted({n["account_ref"] for n in ns})[:20]})


async def take_in_dd_failures(uow: UnitOfWork, msgs: Sequence[Msg[Any]], config: NotificationsConfig,
                              now: dt.datetime) -> dict[uuid.UUID, dt.date | None]:
    """A letter to the payer for each failure on a known account whose code calls for one (not code 2,
    payer deceased: that goes to an officer only). Returns the re-presentation dates planned, by
    failure, for the tasks to state."""
    raw = uow.raw
    wanted = [i for i in msgs if i.data.account_ref and code_rule(i.data.return_code).letter]
    if not wanted:
        return {}
    directory = await repo.directory(raw, [i.data.account_ref for i in wanted])
    today = config.today()
    notices, represent_on = [], {}
    for i in wanted:
        f = i.data
        known = directory.get(f.account_ref) or {}
        inp = {**f.model_dump(mode="json"), "property": known.get("property"),
               "payer_name": f.payer_name or known.get("tenant_name")}
        n = {"notice_id": notice_id_for(L.DD_FAILURE, f.failure_id), "kind": L.DD_FAILURE, "input": inp}
        plan = _plan(n, today, config)
        represent_on[f.failure_id] = plan["effective_on"]
        notices.append({**n, "source_id": f.failure_id, "account_ref": f.account_ref, "status": "pending",
                        "run": f"{L.DD_FAILURE}:{today.isoformat()}", "letter_date": plan["letter_date"],
                        "served_on": plan["served_on"], "effective_on": plan["effective_on"],
                        "amount_pence": f.amount_pence, "reason": None,
                        "correlation_id": i.cause.correlation_id, "causation_id": i.cause.event_id})
    _audit_generated(uow, await nrepo.insert_notices(raw, notices, now))
    return represent_on


def _emit_refused(uow: UnitOfWork, notices: Sequence[dict[str, Any]], now: dt.datetime) -> None:
    refused = [n for n in notices if n["status"] == "refused"]
    for n in refused:
        log.warning("notice.refused", notice_id=str(n["notice_id"]), kind=n["kind"], account_ref=n["account_ref"],
                    effective_on=str(n["effective_on"]), reason=n["reason"])
        emit_notice(uow, n, "refused", at=now)
    if refused:
        log.warning("notices.refused", count=len(refused), note="not served: too late for the notice period")


# --- rendering, in chunks, off the consumer ---------------------------------------------------

async def render_pending(new_uow: UowFactory, config: NotificationsConfig, run_cpu: RunCpu) -> int:
    """Renders one chunk of pending notices; returns how many notices it settled (0: none pending)."""
    async with new_uow() as uow:
        raw = uow.raw
        notices = await nrepo.claim_pending(raw, config.render_chunk)
        if not notices:
            return 0
        now, today = config.clock(), config.today()
        by_id = {n["notice_id"]: n for n in notices}
        done: dict[uuid.UUID, dict[str, Any]] = {}
        letters = []
        for n in notices:
            plan = (_plan(n, today, config) if n["letter_date"] != today else
                    {"letter_date": n["letter_date"], "served_on": n["served_on"], "effective_on": n["effective_on"],
                     "refusal": None})
            base = {"notice_id": n["notice_id"], "letter_date": plan["letter_date"], "served_on": plan["served_on"],
                    "effective_on": plan["effective_on"]}
            if plan["refusal"]:
                done[n["notice_id"]] = {**base, "status": "refused", "reason": plan["refusal"]}
            else:
                done[n["notice_id"]] = {**base, "status": "pending"}
                letters.append(_letter(n, plan, config))
        results = await run_cpu(render_batch, letters, str(config.letters_dir), config.landlord, config.font_path)
        for r in results:
            d = done[r.notice_id]
            if r.error:
                d.update(status="failed", reason=f"rendering failed: {r.error}")
            else:
                d.update(status="produced", document=r.pdf, html_document=r.html, pages=r.pages)
        finished = await nrepo.finish_notices(raw, list(done.values()), now)
        emails = await nrepo.emails_by_ref(raw, [n["account_ref"] for n in finished if n["status"] == "produced"])
        deliveries = []
        for n in finished:
            if n["status"] == "produced":
                deliveries.append(_delivery(n, "letter", n["document"], "written"))
                if n["account_ref"] in emails:
                    deliveries.append(_delivery(n, "email", emails[n["account_ref"]],
                                                "pending" if config.smtp else "skipped",
                                                None if config.smtp else "no SMTP server configured"))
            elif n["status"] == "failed":
                log.error("notice.render_failed", notice_id=str(n["notice_id"]), reason=n["reason"])
        for n in finished:
            if n["status"] in ("produced", "failed"):
                emit_notice(uow, n, n["status"], at=now)
        _emit_refused(uow, finished, now)
        await nrepo.insert_deliveries(raw, deliveries, now)
        for run in sorted({n["run"] for n in notices}):
            mine = [n for n in finished if by_id[n["notice_id"]]["run"] == run]
            uow.audit("notices.rendered", subject=run, after={
                status: sum(1 for n in mine if n["status"] == status) for status in ("produced", "refused", "failed")})
        await uow.commit()
    log.info("notices.rendered", chunk=len(by_id), produced=sum(1 for n in finished if n["status"] == "produced"),
             refused=sum(1 for n in finished if n["status"] == "refused"))
    return len(by_id)


def _delivery(notice: dict[str, Any], channel: str, address: str, status: str,
              detail: str | None = None) -> dict[str, Any]:
    return {"delivery_id": derive_event_id("delivery", notice["notice_id"], channel), "notice_id": notice["notice_id"],
            "channel": channel, "address": address, "status": status, "detail": detail}


# --- print files ---------------------------------------------------------------------------

def print_path(config: NotificationsConfig, run: str, patches: Sequence[str] | None = None) -> Path:
    scope = "" if patches is None else "-patch-" + "-".join(sorted(p.replace("/", "_") for p in patches))
    return config.letters_dir / "print" / (run.replace(":", "-") + scope + ".pdf")


async def print_run(new_uow: UowFactory, config: NotificationsConfig, kind: str, run: str,
                    run_cpu: RunCpu, patches: Sequence[str] | None = None) -> dict[str, Any]:
    """One PDF of every produced letter of a run (e.g. rent_review:2027-04-05), by patch then
    account, for the print room; the letters' deliveries record the print file. Running it again
    rewrites the file with whatever has been produced since. With `patches` (an officer's), only
    the letters of those patches, in a file of their own. Audited as whoever `new_uow` acts for."""
    async with new_uow() as uow:
        letters = await nrepo.printable(uow.raw, kind, run, patches)
    if not letters:
        return {"run": run, "notices": 0, "pages": 0, "path": None}
    path = print_path(config, run, patches)
    pages = await run_cpu(merge_pdfs, [n["document"] for n in letters], str(path))
    async with new_uow() as uow:
        await nrepo.mark_printed(uow.raw, [n["notice_id"] for n in letters], str(path), config.clock())
        uow.audit("notices.printed", subject=run, after={"notices": len(letters), "pages": pages,
                                                          "file": path.name, "patches": patches})
        await uow.commit()
    log.info("notices.print_file", run=run, notices=len(letters), pages=pages, path=str(path))
    return {"run": run, "notices": len(letters), "pages": pages, "path": str(path)}
