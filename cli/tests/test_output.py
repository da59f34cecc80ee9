"""What people see: tables readable at 80 columns, progress as whole lines when not a terminal,
the KPI snapshot in pounds and percentages."""
from __future__ import annotations

import io
import json
import re
from decimal import Decimal

from rich.console import Console

from rentflow_cli import kpi_view
from rentflow_cli.output import Col, ProgressLine, pounds, table

TASK = ["075e87f7-128d-5977-af34-2040ba5ed569", "dd_failure", "10000010", "Asha Patel", "open", "2026-10-08", 1,
        "£100.00 Direct Debit returned unpaid, code 0 (refer to payer): contact the tenant before re-presenting"]
COLS = [Col("task_id"), Col("kind", drop=5), Col("account"), Col("assigned_to", drop=2), Col("status", drop=3),
        Col("due_on"), Col("n", "right", drop=1), Col("reason", wrap=True, drop=4)]


def render(width: int, columns=COLS, rows=(TASK,)) -> str:
    buf = io.StringIO()
    table("tasks: 1", columns, list(rows), console=Console(file=buf, width=width, soft_wrap=True))
    return buf.getvalue()


def test_pounds():
    assert [pounds(p) for p in (0, 5, -5, 123456, -320100, None)] == ["£0.00", "£0.05", "-£0.05", "£1,234.56",
                                                                       "-£3,201.00", "-"]


def test_a_wide_table_keeps_every_column_and_whole_headers():
    text = render(200)
    assert all(len(line) <= 200 for line in text.splitlines())
    header = text.splitlines()[1].split()
    assert header == ["task_id", "kind", "account", "assigned_to", "status", "due_on", "n", "reason"]


def test_at_80_columns_headers_and_ids_stay_whole_and_nothing_is_lost_silently():
    for width in (80, 100, 120):
        text = render(width)
        assert all(len(line) <= width for line in text.splitlines()), text
        assert TASK[0] in text  # the id, whole, on one line
        words = text.split()
        hidden = text.split("left out at this width: ")[1].split(";")[0].split(", ") if "left out" in text else []
        for c in COLS:  # every column is shown with its header whole, or named as left out
            assert c.header in words or c.header in hidden, (width, c.header, text)


def test_columns_are_left_out_in_their_order_and_free_text_wraps_first():
    assert "left out at this width: n, assigned_to, status, reason;" in render(80)  # kind, account, due kept
    text = render(100)
    assert "left out at this width: n, assigned_to, status;" in text and "contact" in text  # the reason wraps


def test_too_narrow_for_a_table_prints_each_row_as_a_block():
    text = render(60)
    assert re.search(r"^task_id +075e87f7-128d-5977-af34-2040ba5ed569 *$", text, re.M), text
    assert "reason" in text and "left out" not in text


def test_progress_is_whole_lines_when_not_a_terminal():
    buf = io.StringIO()
    progress = ProgressLine(Console(file=buf, force_terminal=False), every=0)
    for n in (1, 2, 3):
        progress.update(f"importing: {n} items")
    progress.done()
    assert "\r" not in buf.getvalue()
    assert buf.getvalue().splitlines() == ["importing: 1 items", "importing: 2 items", "importing: 3 items"]


def test_progress_rewrites_one_line_on_a_terminal():
    buf = io.StringIO()
    progress = ProgressLine(Console(file=buf, force_terminal=True))
    progress.update("a")
    progress.update("b")
    progress.done()
    assert buf.getvalue() == "\ra\x1b[K\rb\x1b[K\n"


SNAPSHOT = json.loads("""{"period": "month", "period_label": "2026-10", "period_start": "2026-10-01",
  "period_end": "2026-10-31", "through": "2026-10-31", "as_of": "2026-10-31", "complete": true,
  "debit_pence": 237692410, "debit_by_type": {"DBR": 228236950, "DSC": 9455460},
  "collected_pence": 232726799, "collected_by_channel": {"card": 23898639, "direct_debit": 89349293},
  "arrears_brought_forward_pence": 59313744, "rent_collected_pct_excl_arrears_bf": 97.91,
  "rent_collected_pct_incl_arrears_bf": 78.36, "current_tenant_arrears_pence": 45691112,
  "current_tenant_arrears_pct": 1.47, "current_tenancies": 4839, "current_tenancies_in_arrears": 435,
  "suspense_count": 62, "suspense_pence": 977150,
  "suspense_age_bands": {"8_30_days": {"count": 62, "pence": 977150}},
  "a_figure_added_later_pence": 1234, "taken_at": "2026-12-03T08:22:00+00:00", "snapshot_id": "s1"}""",
                      parse_float=Decimal)


def test_the_kpi_table_speaks_pounds_and_percent_with_named_figures():
    rows = dict(kpi_view.lines(SNAPSHOT))
    assert rows["Rent and charges debited"] == "£2,376,924.10"
    assert rows["  basic rent (DBR)"] == "£2,282,369.50"  # not the raw 228236950
    assert rows["  service charge (DSC)"] == "£94,554.60"
    assert rows["  Direct Debit"] == "£893,492.93"
    assert rows["Rent collected, excluding arrears b/f"] == "97.91%"
    assert rows["Current tenancies"] == "4,839"
    assert rows["  in arrears"] == "435 (8.99%)"
    assert rows["Suspense: receipts not yet allocated"] == "62 (£9,771.50)"
    assert rows["  8–30 days old"] == "62 (£9,771.50)"
    assert rows["a_figure_added_later_pence"] == "£12.34"  # a figure this list does not know is still shown
    money = [v for v in rows.values() if v.replace(",", "").isdigit() and len(v) > 6]
    assert not money, f"raw numbers among the figures: {money}"
    assert "(complete)" in kpi_view.title(SNAPSHOT)
