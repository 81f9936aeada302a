"""Read a page's tables the way a person does: the text of each cell, row by row (stdlib only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Row:
    """A table row: its id and classes, and the text of each of its own cells."""

    id: str | None
    classes: set[str]
    cells: list[str] = field(default_factory=list)


class _TableReader(HTMLParser):
    """Collects rows of the table with ``table_id``, skipping tables nested in its cells."""

    def __init__(self, table_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.table_id = table_id
        self.rows: list[Row] = []
        self.found = False
        self._depth = 0  # 1 inside the wanted table, more inside tables nested in it
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            if self._depth:
                self._depth += 1
            elif attributes.get("id") == self.table_id:
                self.found = True
                self._depth = 1
        elif self._depth == 1 and tag == "tr":
            classes = set((attributes.get("class") or "").split())
            self.rows.append(Row(attributes.get("id"), classes))
        elif self._depth == 1 and tag in ("td", "th") and self.rows:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth:
            self._depth -= 1
        elif self._depth == 1 and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and self._depth == 1:
            self._cell.append(data)


def table_rows(page: str, table_id: str, *, header: bool = False) -> list[Row]:
    """The rows of the table ``table_id`` (without its header row unless ``header``)."""
    reader = _TableReader(table_id)
    reader.feed(page)
    assert reader.found, f"no table with id {table_id!r} on the page"
    rows = reader.rows if header else reader.rows[1:]
    return rows


def cells_by_first(page: str, table_id: str) -> dict[str, list[str]]:
    """The table's rows keyed by their first cell."""
    return {row.cells[0]: row.cells for row in table_rows(page, table_id) if row.cells}
