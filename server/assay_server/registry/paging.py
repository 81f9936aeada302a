"""Pages of rows: sorted by a named column with the id breaking ties, counted, then sliced."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A page of rows and the total matching."""

    items: list[T]
    total: int
    page: int
    limit: int


def sorted_by(query: Select[T], entity: type[T], sort: str, allowed: Collection[str]) -> Select[T]:
    """``query`` ordered by the column ``sort`` of ``entity`` (``-name``: descending)."""
    name = sort.lstrip("-")
    if name not in allowed:
        raise ValidationFailed("", details={"sort": [f"Sort by one of {sorted(allowed)}."]})
    descending = sort.startswith("-")
    # The id breaks ties (rows made in the same instant), so pages neither repeat nor skip.
    columns = [getattr(entity, column) for column in (name, "id")]
    return query.order_by(*(column.desc() if descending else column.asc() for column in columns))


def paged(
    session: Session,
    query: Select[T],
    *,
    page: int,
    limit: int,
    keep: Callable[[T], bool] | None = None,
) -> Page[T]:
    """Page ``page`` (from 1) of ``query``'s rows, in its order, and how many match.

    ``keep`` filters rows here rather than in SQL, reading every row: tags are a JSON list,
    matched this way the same on SQLite and PostgreSQL.
    """
    start = (page - 1) * limit
    if keep is not None:
        rows = [row for row in session.scalars(query).unique() if keep(row)]
        return Page(items=rows[start : start + limit], total=len(rows), page=page, limit=limit)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.offset(start).limit(limit)).unique())
    return Page(items=items, total=total, page=page, limit=limit)
