"""File-level AUDDIS reports on a whole lodgement (directdebit.mandates.v1 actions lodgement_accepted /
lodgement_rejected, reference `LODGEMENT <serial>`; docs/domain.md §3).

A Standard 18 submission lodges new instructions (0N/0S); the ledger keeps, per mandate, the volume
serial number of the submission it was lodged in (`remember_lodgements`). Then:
- AUDACC (accepted): every mandate lodged in it is confirmed live (MandateChanged, no task);
- AUDREJ (rejected): none of it is live — every mandate lodged in it becomes `pending` (not live:
  lodge again) with a task each (MandateChanged needs_person, one input per mandate so each account
  gets its own task), the file error code and description in the reason.
A report about a lodgement whose mandates the ledger does not know: a rejection is a finance task
(UnreconciledItem lodgement_unmatched: someone must find what was lodged); an acceptance is logged.
Each report once by instruction_id."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Sequence

from rentflow_common.logging import get_logger
from rentflow_ledger.domain.directdebit import mandate_change
from rentflow_ledger.service_layer import events
from rentflow_schemas import derive_event_id
from rentflow_schemas.bacs import LODGEMENT_ACCEPTED, LODGEMENT_REJECTED

UTC = dt.timezone.utc
log = get_logger()
LODGEMENT_ACTIONS = frozenset({LODGEMENT_ACCEPTED, LODGEMENT_REJECTED})


def is_lodgement(command: Any) -> bool:
    return command.instruction.action in LODGEMENT_ACTIONS


async def remember_lodgements(uow: Any, commands: Sequence[Any]) -> None:
    """The submission each newly lodged instruction (0N/0S of a Standard 18 file) came in."""
    from rentflow_ledger.domain.references import normalise_reference
    pairs = {normalise_reference(c.instruction.reference): c.instruction.lodgement_serial for c in commands
             if c.instruction.lodgement_serial and c.instruction.action in ("new", "converted")}
    await uow.cashbook.set_lodgements(sorted(pairs.items()))


def _serial(d: Any) -> str:
    return d.lodgement_serial or d.reference.removeprefix("LODGEMENT").strip()


async def handle_lodgement_reports(uow: Any, commands: Sequence[Any]) -> None:
    """`commands`: ChangeMandate (`.instruction`, `.cause`) with a lodgement action."""
    batch: dict[uuid.UUID, Any] = {}
    for c in commands:
        batch.setdefault(c.instruction.instruction_id, c)
    seen = await uow.mandates.instructions_seen(list(batch))
    fresh = [c for iid, c in batch.items() if iid not in seen]
    if not fresh:
        return
    now = dt.datetime.now(UTC)
    lodged = await uow.cashbook.lodged(sorted({_serial(c.instruction) for c in fresh}))
    mandates: dict[str, tuple[Any, ...]] = {}
    seen_rows: list[tuple[Any, ...]] = []
    unknown: list[Any] = []
    for c in fresh:
        d = c.instruction
        new_state, needs_person = mandate_change(d.action)
        serial = _serial(d)
        why = d.description + (f" (file error {d.file_error_code})" if d.file_error_code else "")
        rows = lodged.get(serial, [])
        if not rows:
            log.warning("AUDDIS lodgement report about mandates the ledger does not know", serial=serial,
                        action=d.action, instruction_id=str(d.instruction_id))
            if d.action == LODGEMENT_REJECTED:
                unknown.append(c)
        for row in rows:
            ref, account = row["reference"], row["account_ref"]
            old = row["state"]
            # one input per mandate: each account gets its own task, and a redelivery the same ids
            each = derive_event_id("lodgement-mandate", d.instruction_id, ref)
            mandates[ref] = (ref, account, new_state, d.reason_code, why, d.instruction_id, d.effective_date, now)
            if old != new_state or needs_person:
                events.mandate_changed(uow, {
                    "account_ref": account, "reference": ref, "old_state": old, "new_state": new_state,
                    "reason_code": d.reason_code, "description": f"lodgement {serial}: {why}"[:200],
                    "needs_person": needs_person or account is None, "effective_date": d.effective_date,
                    "instruction_id": each, "occurred_at": now}, f"instruction:{d.instruction_id}:{ref}", c.cause)
        seen_rows.append((d.instruction_id, None, new_state, d.received_at))
    await uow.mandates.add_instructions(seen_rows)
    await uow.mandates.upsert(list(mandates.values()))
    new = await uow.unreconciled.open([
        (derive_event_id("unreconciled", "lodgement", c.instruction.instruction_id), "lodgement_unmatched", None,
         c.instruction.reference, c.instruction.effective_date or now.date(), c.instruction.description, now)
        for c in unknown])
    for c in unknown:
        d = c.instruction
        iid = derive_event_id("unreconciled", "lodgement", d.instruction_id)
        if iid not in new:
            continue
        counts = f"{d.rejected_count} instructions rejected" if d.rejected_count is not None else "instructions rejected"
        events.unreconciled(uow, {
            "item_id": iid, "action": "opened", "kind": "lodgement_unmatched", "amount_pence": None,
            "reference": d.reference, "account_ref": None, "business_date": d.effective_date or now.date(),
            "reason": f"Bacs rejected the whole lodgement {_serial(d)} ({counts}; {d.description}"
                      + (f", file error {d.file_error_code}" if d.file_error_code else "")
                      + "): no mandate the ledger knows was lodged in it; find which instructions were and lodge "
                        "them again",
            "source_id": d.instruction_id, "occurred_at": now}, c.cause)
