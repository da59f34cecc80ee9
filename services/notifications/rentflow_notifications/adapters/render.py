"""Letters to files: HTML (jinja2, autoescaped) and PDF (fpdf2, pure Python), and the merged print
file (pypdf). CPU work: `render_batch` and `merge_pdfs` are plain functions so the service can
run them in a worker process, off its event loop. Files are written to a temporary name and
renamed, so a crash leaves either the old file or the new one, never half of one; rendering the
same letter again writes the same bytes (fixed creation date), so a retried chunk is harmless."""
from __future__ import annotations

import datetime as dt
import os
import unicodedata
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import jinja2
from fpdf import FPDF
from pypdf import PdfWriter

from rentflow_notifications.domain.letters import Landlord, Letter, long_date

_LINE = 5.2  # mm per line of 11 pt text
_FONT = "helvetica"
_TRANSLITERATE = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ø": "O", "ø": "o", "ı": "i", "ß": "ss"})


_WIDTHS: dict[tuple[str, str, float, str], float] = {}


@dataclass(frozen=True)
class Rendered:
    notice_id: uuid.UUID
    pdf: str | None
    html: str | None
    pages: int
    error: str | None = None


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("rentflow_notifications", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def letter_html(letter: Letter, landlord: Landlord) -> str:
    return _templates().get_template("letter.html.j2").render(
        letter=letter, letter_date=long_date(letter.letter_date), landlord_lines=(landlord.name, *landlord.address))


def _core_text(text: str) -> str:
    """The PDF core fonts cover Windows-1252 only: other letters lose their accents (Ł → L); what
    still does not fit becomes '?'. The HTML and the email keep the text exactly."""
    try:
        text.encode("cp1252")
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text.translate(_TRANSLITERATE):
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append(base if base and base.isascii() else "?")
    return "".join(out)


class _LetterPdf:
    def __init__(self, font_path: str | None) -> None:
        pdf = FPDF(format="A4")
        pdf.set_margins(20, 18, 20)
        pdf.set_auto_page_break(True, margin=18)
        if font_path:
            pdf.add_font("letter", "", font_path)
            pdf.add_font("letter", "B", font_path)
            self.family, self.text = "letter", (lambda s: s)
        else:
            pdf.core_fonts_encoding = "windows-1252"
            self.family, self.text = _FONT, _core_text
        self.pdf = pdf

    def width(self, word: str) -> float:
        """Text widths are the same in every letter: remembered per process (fpdf2 measures slowly)."""
        key = (self.family, self.pdf.font_style, self.pdf.font_size_pt, word)
        w = _WIDTHS.get(key)
        if w is None:
            if len(_WIDTHS) > 200_000:
                _WIDTHS.clear()
            w = _WIDTHS[key] = self.pdf.get_string_width(word)
        return w

    def line(self, text: str = "", *, bold: bool = False, size: float = 11, align: str = "L") -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.cell(0, _LINE * size / 11, self.text(text), align=align, new_x="LMARGIN", new_y="NEXT")

    def paragraph(self, text: str) -> None:
        """Word-wrapped with a cell per line: fpdf2's multi_cell does the same but several times slower."""
        pdf = self.pdf
        pdf.set_font(self.family, "", 11)
        width, space = pdf.epw, self.width(" ")
        words, used = [], 0.0
        for word in self.text(text).split():
            w = self.width(word)
            if words and used + space + w > width:
                pdf.cell(0, _LINE, " ".join(words), new_x="LMARGIN", new_y="NEXT")
                words, used = [], 0.0
            used = used + space + w if words else w
            words.append(word)
        if words:
            pdf.cell(0, _LINE, " ".join(words), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)

    def table(self, rows: Sequence[Sequence[str]]) -> None:
        pdf = self.pdf
        widths = [pdf.epw * 0.44, pdf.epw * 0.26, pdf.epw * 0.30]
        for i, row in enumerate(rows):
            pdf.set_font(self.family, "B" if i == 0 or i == len(rows) - 1 else "", 11)
            for j, value in enumerate(row):
                last = j == len(row) - 1
                pdf.cell(widths[j], 7, self.text(value), border=1, align="L" if j == 0 else "R",
                         new_x="LMARGIN" if last else "RIGHT", new_y="NEXT" if last else "TOP")
        pdf.ln(3)


def letter_pdf(letter: Letter, landlord: Landlord, font_path: str | None = None) -> tuple[bytes, int]:
    """The PDF's bytes and its page count."""
    doc = _LetterPdf(font_path)
    pdf = doc.pdf
    moment = dt.datetime.combine(letter.letter_date, dt.time(), dt.timezone.utc)
    pdf.set_creation_date(moment)
    pdf.set_title(doc.text(letter.subject))
    pdf.set_author(doc.text(landlord.name))
    pdf.add_page()
    for line in (landlord.name, *landlord.address):
        doc.line(line, align="R", size=10)
    pdf.ln(6)
    for line in (letter.addressee, *letter.address):
        doc.line(line)
    pdf.ln(6)
    doc.line(long_date(letter.letter_date))
    doc.line(f"Rent account {letter.account_ref}", size=9)
    pdf.ln(4)
    doc.line(letter.subject, bold=True, size=14)
    pdf.ln(3)
    doc.paragraph(f"Dear {letter.addressee},")
    for p in letter.paragraphs:
        doc.paragraph(p)
    if letter.table:
        doc.table(letter.table)
    for p in letter.after_table:
        doc.paragraph(p)
    for line in letter.sender:
        doc.line(line)
    pdf.ln(4)
    doc.line(f"Notice {letter.notice_id}", size=8)
    return bytes(pdf.output()), pdf.pages_count


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def letter_paths(directory: str | Path, letter: Letter) -> tuple[Path, Path]:
    base = Path(directory) / letter.kind / letter.letter_date.isoformat() / letter.file_stem()
    return base.with_suffix(".pdf"), base.with_suffix(".html")


def render_batch(letters: Sequence[Letter], directory: str, landlord: Landlord,
                 font_path: str | None = None) -> list[Rendered]:
    """Renders and writes each letter; a letter that cannot be rendered is reported, not raised,
    so one bad letter does not hold up the others."""
    out = []
    for letter in letters:
        try:
            pdf_path, html_path = letter_paths(directory, letter)
            data, pages = letter_pdf(letter, landlord, font_path)
            _write(pdf_path, data)
            _write(html_path, letter_html(letter, landlord).encode())
            out.append(Rendered(letter.notice_id, str(pdf_path), str(html_path), pages))
        except Exception as exc:  # noqa: BLE001 — reported per letter, with what failed
            out.append(Rendered(letter.notice_id, None, None, 0, f"{type(exc).__name__}: {exc}"))
    return out


def merge_pdfs(paths: Sequence[str], out_path: str) -> int:
    """One print file from many letters, in the order given; returns its page count."""
    writer = PdfWriter()
    for p in paths:
        writer.append(p)
    tmp = Path(out_path).with_name(f".{Path(out_path).name}.{os.getpid()}.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as f:
        writer.write(f)
    os.replace(tmp, out_path)
    return len(writer.pages)


PARENT_POLL_S = 0.2


def die_with_parent(parent_pid: int) -> None:
    """A render worker's initializer: the worker ends when the service that started it is gone, even
    when the service was SIGKILLed and could not shut its pool down (a worker waits on the pool's
    queue, whose write end it holds itself, so it would wait for ever). Polls the parent pid from a
    daemon thread (also while a letter is being rendered), rather than prctl(PR_SET_PDEATHSIG), which
    fires when the *thread* that spawned the worker ends, not the process."""
    import threading
    import time

    if os.getppid() != parent_pid:  # gone already, between the spawn and this
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
