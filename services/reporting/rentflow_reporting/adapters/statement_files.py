"""Writes rent statements as files: one PDF (fpdf2) and one CSV per account, and a line per
account in the run's index.csv. Synchronous and CPU-bound: the service calls it in a worker
thread, a chunk of accounts at a time."""
from __future__ import annotations

import re
import unicodedata
import zipfile
from pathlib import Path
from typing import Sequence

from fpdf import FPDF

from rentflow_common.exports import csv_writer

from rentflow_reporting.domain.statements import CSV_HEADER, Statement, csv_rows, money, quarter_name

INDEX_HEADER = ("account_ref", "tenant_name", "property", "opening_pence", "debits_pence", "credits_pence",
                "closing_pence", "lines", "pdf", "csv", "pdf_pages")
# Date, type, description, debit, credit, balance (mm; A4 is 210 wide, 15 margins)
COLUMNS = ((24, "Date", "L"), (14, "Type", "L"), (58, "Description", "L"), (28, "Debit", "R"), (28, "Credit", "R"),
           (28, "Balance", "R"))
ROW_H = 6
BOTTOM = 35  # mm kept free at the foot of a page
FOOTNOTE = ("A balance is what you owe; 'in credit' means you have paid ahead. Debits are rent and charges due;",
            "credits are payments and other amounts in your favour. This statement is your rent book for the quarter",
            "(Landlord and Tenant Act 1985, s.4).")


NOT_DECOMPOSABLE = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "–": "-", "—": "-",
                                  "‘": "'", "’": "'", "“": '"', "”": '"'})


def latin1(text: str | None) -> str:
    """The core PDF fonts carry Latin-1 only: a character outside it loses its accent (Ś → S,
    Ł → L) or becomes '?', rather than failing the statement."""
    if not text:
        return ""
    out = []
    for c in text.translate(NOT_DECOMPOSABLE):
        if ord(c) > 255:
            c = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d) and ord(d) < 256)
        out.append(c or "?")
    return "".join(out)


def render_pdf(s: Statement, path: Path, landlord: str) -> int:
    """Writes the statement's PDF; returns its page count."""
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=False)
    pdf.set_title(f"Rent statement {s.account_ref} {quarter_name(s.period)}")
    pdf.set_creator("rentflow reporting")

    def heading() -> None:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 8, latin1(f"{landlord}: rent statement"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        for text in (f"Rent account {s.account_ref}", latin1(s.tenant_name), latin1(s.property),
                     f"{s.period.start:%d %B %Y} to {s.period.end:%d %B %Y} (financial year quarter "
                     f"{quarter_name(s.period)})"):
            if text:
                pdf.cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 9)
        for width, title, align in COLUMNS:
            pdf.cell(width, ROW_H, title, border="B", align=align)
        pdf.ln(ROW_H)
        pdf.set_font("Helvetica", "", 9)

    def row(cells: Sequence[str], bold: bool = False) -> None:
        # pdf.text() rather than cell(): a statement has hundreds of these, and cell() costs ~10×
        if pdf.get_y() + ROW_H > pdf.h - BOTTOM:  # leaves room for the closing row and the footnote
            heading()
        if bold:
            pdf.set_font("Helvetica", "B", 9)
        x, baseline = pdf.l_margin, pdf.get_y() + ROW_H - 1.8
        for (width, _, align), text in zip(COLUMNS, cells):
            if text:
                left = x + width - pdf.c_margin - pdf.get_string_width(text) if align == "R" else x + pdf.c_margin
                pdf.text(left, baseline, text)
            x += width
        pdf.ln(ROW_H)
        if bold:
            pdf.set_font("Helvetica", "", 9)

    heading()
    row([f"{s.period.start:%d/%m/%Y}", "", "Opening balance", "", "", money(s.opening_pence)], bold=True)
    for x in s.lines:
        row([f"{x.date:%d/%m/%Y}", x.type_code, x.meaning, money(x.amount_pence) if x.amount_pence > 0 else "",
             money(-x.amount_pence) if x.amount_pence < 0 else "", money(x.balance_pence)])
    row([f"{s.period.end:%d/%m/%Y}", "", "Closing balance", money(s.debits_pence), money(s.credits_pence),
         money(s.closing_pence)], bold=True)
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 8)
    for text in FOOTNOTE:
        pdf.cell(0, 4, text, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return pdf.pages_count


def write_csv(s: Statement, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv_writer(f)
        w.writerow(CSV_HEADER)
        w.writerows(csv_rows(s))


def write_chunk(statements: Sequence[Statement], directory: Path, landlord: str) -> int:
    """PDF and CSV for each statement, appended to index.csv (written with its header by
    `start_index`). Returns the PDF pages written."""
    pages = 0
    index_rows = []
    for s in statements:
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in s.account_ref)
        pdf, csv_path = directory / "pdf" / f"{safe}.pdf", directory / "csv" / f"{safe}.csv"
        n = render_pdf(s, pdf, landlord)
        write_csv(s, csv_path)
        pages += n
        index_rows.append((s.account_ref, s.tenant_name or "", s.property or "", s.opening_pence, s.debits_pence,
                           s.credits_pence, s.closing_pence, len(s.lines), f"pdf/{pdf.name}", f"csv/{csv_path.name}",
                           n))
    with (directory / "index.csv").open("a", newline="", encoding="utf-8") as f:
        csv_writer(f).writerows(index_rows)
    return pages


def start_index(directory: Path) -> None:
    """Makes the directory layout (pdf/, csv/) and a fresh index.csv."""
    (directory / "pdf").mkdir(parents=True, exist_ok=True)
    (directory / "csv").mkdir(exist_ok=True)
    with (directory / "index.csv").open("w", newline="", encoding="utf-8") as f:
        csv_writer(f).writerow(INDEX_HEADER)


# what a run folder holds, and all a download may name
RUN_FILE = re.compile(r"^(index\.csv|pdf/[A-Za-z0-9_-]{1,200}\.pdf|csv/[A-Za-z0-9_-]{1,200}\.csv)$")
ARCHIVE = "statements.zip"


def run_files(directory: Path) -> list[str]:
    """The run's files, relative to its folder: index.csv, then pdf/ and csv/ by name."""
    found = ["index.csv"] if (directory / "index.csv").is_file() else []
    for sub, ext in (("pdf", ".pdf"), ("csv", ".csv")):
        if (directory / sub).is_dir():
            found += sorted(f"{sub}/{p.name}" for p in (directory / sub).iterdir() if p.suffix == ext)
    return [f for f in found if RUN_FILE.match(f)]


def run_file(directory: Path, name: str) -> Path | None:
    """The file `name` of the run folder, or None: only names of RUN_FILE's form, inside the folder."""
    if not RUN_FILE.match(name):
        return None
    path = (directory / name).resolve()
    if directory.resolve() not in path.parents or not path.is_file():
        return None
    return path


def archive(directory: Path, quarter: str) -> Path:
    """A zip of the run's files (made once; PDFs are stored as they are, already compressed)."""
    path = directory / ARCHIVE
    if path.is_file():
        return path
    tmp = directory / (ARCHIVE + ".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for name in run_files(directory):
            kind = zipfile.ZIP_STORED if name.endswith(".pdf") else zipfile.ZIP_DEFLATED
            z.write(directory / name, f"statements-{quarter}/{name}", compress_type=kind)
    tmp.replace(path)
    return path
