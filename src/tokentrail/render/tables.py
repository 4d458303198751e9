"""The one table renderer, the CLI's and the demo's. A table fits the terminal by dropping its least important
columns first (a note under it names them and `--wide` shows them), a cell is never cut with an ellipsis, and
no text in it (labels, model names, titles) is read as Rich markup."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

BORDER = 3  # per column: the padding on each side and one border; plus one border for the table's edge


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    header: str
    numeric: bool = False
    drop: int = 0  # 0: always shown; otherwise, when too wide, the highest drops first (rightmost on a tie)


@dataclasses.dataclass(slots=True)
class Grid:
    """Plain-text cells, a title, row styles, and an optional total row under a rule."""

    columns: Sequence[Column]
    title: str = ""
    rows: list[tuple[Sequence[str], str | None]] = dataclasses.field(default_factory=list)
    total: Sequence[str] | None = None

    def add(self, *cells: str, style: str | None = None) -> None:
        self.rows.append((cells, style))

    def all_rows(self) -> list[Sequence[str]]:
        return [cells for cells, _ in self.rows] + ([self.total] if self.total else [])

    def widths(self, fold_headers: bool = True) -> list[int]:
        """Each column's width with no cell cut or folded (a header may fold between its words)."""
        rows = self.all_rows()
        return [
            max(
                [len(w) for w in (col.header.split() if fold_headers else [col.header])]
                + [len(r[i]) for r in rows]
            )
            for i, col in enumerate(self.columns)
        ]


def table_width(widths: Sequence[int]) -> int:
    return sum(widths) + BORDER * len(widths) + 1


def fit(grid: Grid, width: int) -> list[int]:
    """The indices of the columns kept so the table fits `width` (only columns marked to drop are dropped)."""
    widths = grid.widths()
    kept = list(range(len(grid.columns)))
    droppable = sorted(
        (i for i, c in enumerate(grid.columns) if c.drop), key=lambda i: (-grid.columns[i].drop, -i)
    )
    for i in droppable:
        if table_width([widths[k] for k in kept]) <= width:
            break
        kept.remove(i)
    return kept


def build(grid: Grid, kept: Sequence[int], widths: Sequence[int]) -> Table:
    """The columns at fixed widths, so rich folds headers rather than cells (and folds, never cuts, the
    cells of a table whose kept columns alone are wider than the terminal)."""
    table = Table(title=Text(grid.title) if grid.title else None, title_justify="left")
    for i in kept:
        col = grid.columns[i]
        table.add_column(
            Text(col.header), justify="right" if col.numeric else "left", overflow="fold", width=widths[i]
        )
    for cells, style in grid.rows:
        table.add_row(*(Text(cells[i]) for i in kept), style=style)
    if grid.total:
        table.add_section()
        table.add_row(*(Text(grid.total[i]) for i in kept), style="bold")
    return table


def print_grid(console: Console, grid: Grid, wide: bool = False) -> None:
    """Print to fit the console, or every column at full width with `wide` (lines may then be long)."""
    if wide:
        widths = grid.widths(fold_headers=False)
        width = max(console.width, table_width(widths))  # rich caps print(width=) at the terminal's width
        full = Console(
            file=console.file, width=width, force_terminal=console.is_terminal, no_color=console.no_color
        )
        full.print(build(grid, range(len(widths)), widths), crop=False)
        return
    kept = fit(grid, console.width)
    console.print(build(grid, kept, grid.widths()))
    hidden = [c.header for i, c in enumerate(grid.columns) if i not in kept]
    if hidden:
        left_out = ", ".join(hidden)
        note = (
            f"{len(hidden)} columns left out to fit {console.width} columns ({left_out}); --wide shows them"
        )
        console.print(Text(note, style="dim"), soft_wrap=False)  # folded to the width like the table
