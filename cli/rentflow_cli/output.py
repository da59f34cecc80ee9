"""How the CLI shows things to people: money in pounds, tables that stay readable at 80 columns,
and progress that is one rewritten line on a terminal and whole lines anywhere else."""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rentflow_common import money

LONDON = ZoneInfo("Europe/London")

# soft_wrap: a long message stays one line (a terminal wraps it; a log file keeps it whole).
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def pounds(pence: int | None) -> str:
    """Integer pence as pounds: 123456 → £1,234.56, -5 → -£0.05; None → "-"."""
    return "-" if pence is None else money.pounds(pence)


def when(value: str | None) -> str:
    """An ISO instant as Europe/London "YYYY-MM-DD HH:MM" (a date stays as it is)."""
    if not value:
        return ""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Col:
    """A table column. `wrap`: free text that may wrap onto more lines when the table is too wide.
    `drop`: 0 never left out; otherwise the order columns are left out in when the table does not
    fit (1 first)."""

    header: str
    justify: str = "left"
    wrap: bool = False
    drop: int = 0


WRAP_MIN = 18  # a wrapping column is never narrower than this (or its header, or its text)


def table(title: str, columns: Sequence[Col | str], rows: Sequence[Sequence[Any]], *,
          console: Console | None = None) -> None:
    """Prints a table that fits the console: free-text columns wrap, then the least needed
    columns are left out (a note names them); headers and values such as ids are never broken.
    When even that does not fit, each row is printed as a block of "header  value" lines."""
    console = console or out
    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    cells = [["" if v is None else str(v) for v in r] for r in rows]
    natural = [max([len(c.header)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    shown = list(range(len(cols)))
    droppable = sorted((i for i, c in enumerate(cols) if c.drop), key=lambda i: (cols[i].drop, -i))
    minimum = [min(n, max(len(c.header), WRAP_MIN)) if c.wrap else n for n, c in zip(natural, cols)]

    def width(indexes: list[int]) -> int:  # box.SIMPLE_HEAD without edges: 1 space padding each side, 1 between
        return sum(minimum[i] + 2 for i in indexes) + len(indexes) - 1

    hidden: list[str] = []
    while width(shown) > console.width and droppable:
        i = droppable.pop(0)
        shown.remove(i)
        hidden.append(cols[i].header)
    if width(shown) > console.width:
        _blocks(console, title, cols, cells)
        return
    console.print(_build(title, cols, minimum, natural, shown, cells), soft_wrap=False)
    if hidden:
        console.print(f"(left out at this width: {', '.join(hidden)}; a wider window or --json shows them)",
                      style="dim", highlight=False, soft_wrap=False)


def _build(title: str, cols: list[Col], minimum: list[int], natural: list[int], shown: list[int],
           cells: list[list[str]]) -> Table:
    t = Table(title=escape(title), title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for i in shown:
        c = cols[i]
        if c.wrap:
            t.add_column(escape(c.header), justify=c.justify,  # type: ignore[arg-type]
                         min_width=minimum[i], overflow="fold")
        else:
            t.add_column(escape(c.header), justify=c.justify, no_wrap=True,  # type: ignore[arg-type]
                         min_width=natural[i])
    for r in cells:
        t.add_row(*[escape(r[i]) for i in shown])
    return t


def _blocks(console: Console, title: str, cols: list[Col], cells: list[list[str]]) -> None:
    console.print(escape(title), highlight=False)
    for r in cells:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for c, v in zip(cols, r):
            if v:  # an empty cell says nothing in a block
                grid.add_row(escape(c.header), escape(v))
        console.print("")
        console.print(grid, soft_wrap=False)


class ProgressLine:
    """Progress on stderr: on a terminal one line rewritten in place; otherwise (a file, a pipe)
    whole lines, at most one every `every` seconds, so a log reads line by line."""

    def __init__(self, console: Console | None = None, every: float = 5.0) -> None:
        self.console = console or err
        self.every = every
        self.last_text = ""
        self.last_at = 0.0
        self.dirty = False

    def update(self, text: str) -> None:
        if self.console.is_terminal:
            self.console.file.write("\r" + text + "\x1b[K")
            self.console.file.flush()
            self.dirty = True
            return
        now = time.monotonic()
        if text != self.last_text and now - self.last_at >= self.every:
            self.console.file.write(text + "\n")
            self.console.file.flush()
            self.last_text, self.last_at = text, now

    def done(self) -> None:
        """Ends the rewritten line on a terminal (so what follows starts on its own line)."""
        if self.dirty:
            self.console.file.write("\n")
            self.console.file.flush()
            self.dirty = False
