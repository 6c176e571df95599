"""One way to page a list (分页): every list endpoint of every service returns a :class:`Page`.

* :class:`Page` — ``{"total", "limit", "offset", "items"}``: ``total`` rows match the filter,
  ``items`` holds at most ``limit`` of them after skipping ``offset``. Each list names its page
  by subclassing (``class ApplicationPage(Page[ApplicationPublic])``), so that OpenAPI shows
  ``ApplicationPage`` rather than ``Page_ApplicationPublic_``; a page may add fields of its own
  (``WatchPage`` adds the day and the level it was drawn for).
* :data:`Paging` — the ``limit`` / ``offset`` query parameters as one dependency:
  ``limit`` 1 … :data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`), ``offset`` ≥ 0. Anything else
  is a 422 ``validation_failed`` before the route runs.
* :func:`fetch_page` — runs a ``select`` as two queries: ``count(*)`` over it in the database,
  then the ordered page itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Interval
from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import fetch_all
from shared.validation import MAX_ID, Offset

__all__ = [
    "ALL_ROWS",
    "DEFAULT_LIMIT",
    "FIRST_PAGE",
    "MAX_LIMIT",
    "Limit",
    "Page",
    "PageParams",
    "Paging",
    "fetch_page",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Interval(ge=1, le=MAX_LIMIT)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: how many match (``total``), and ``items`` from ``offset`` on."""

    total: int
    limit: int
    offset: int
    items: list[T]


@dataclass(frozen=True)
class PageParams:
    """Which slice of a list the caller asked for."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0


FIRST_PAGE = PageParams()
# In-process callers that need the whole list (an export, a yearly report); no query reaches it.
ALL_ROWS = PageParams(limit=MAX_ID)


async def page_params(
    limit: Annotated[Limit, Query(description=f"每页条数 (1 … {MAX_LIMIT})")] = DEFAULT_LIMIT,
    offset: Annotated[Offset, Query(description="跳过的条数")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


Paging = Annotated[PageParams, Depends(page_params)]


async def fetch_page(
    session: AsyncSession,
    query: Any,
    params: PageParams,
    *order_by: Any,
    count: Any = None,
) -> tuple[int, Sequence[Any]]:
    """Count the rows of ``query`` and fetch the requested page of them, ordered by ``order_by``.

    ``query`` is a ``select`` of a model (the rows are its objects) or of columns (the rows are
    tuples). Give ``order_by`` a unique last key (the id) so that pages neither overlap nor skip.
    ``count`` replaces the default ``SELECT count(*) FROM (query)`` where a cheaper count gives
    the same number (without a join that cannot drop rows, say). Returns ``(total, rows)``.
    """
    if count is None:
        count = sa_select(func.count()).select_from(query.subquery())
    total = (await fetch_all(session, count))[0][0]
    page = query.order_by(*order_by).limit(params.limit).offset(params.offset)
    rows = (await session.exec(page)).all()
    return int(total), rows
