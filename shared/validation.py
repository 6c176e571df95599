"""Input checked once, at the boundary: ids, days and text that the database and the date
arithmetic can take, so hostile input is a 422 and never a 500 (输入校验).

* :data:`Id` — a row id (编号) in a path, a query or a body: 1 … 2³¹−1, PostgreSQL's ``integer``.
  A larger number cannot name a row; unchecked it overflows the driver (SQLite stops at 2⁶³−1).
* :data:`Offset` — how many rows a page skips: 0 … 2³¹−1, more rows than any table holds (an
  unchecked 2⁶³ overflows the driver).
* :data:`Day` — a date (日期) the services reason about: 2000-01-01 … 2100-12-31. Dates near
  ``date.min``/``date.max`` make ``as_of - timedelta(...)`` raise ``OverflowError``.
  :data:`Year` is a year of that range, :data:`Instant` an aware moment within it (a moment
  near ``datetime.max`` overflows when it is shown in Beijing time).
* :func:`refuse_nul_characters` — a NUL (``\\x00``) anywhere in the path, the query, a header, a
  form field, a file name or a JSON body is a 422 ``nul_character``: PostgreSQL refuses NUL in
  ``text``, and no field of ours has a use for it.

The constraints are plain ``annotated_types`` metadata, so one alias serves path, query and body
alike (``item_id: Id``) and OpenAPI shows the bounds.

NUL is refused by one app-wide dependency (``create_service_app`` installs it) rather than a
middleware or a string type on every field: a dependency runs for every route, including the
anonymous ones, before the route's own dependencies and before any write; it sees what FastAPI
has already parsed (decoded path and query, the form it has read, the JSON body it has buffered),
so it neither buffers bodies a second time nor misreads an uploaded file's contents, which may
hold any byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from annotated_types import Interval
from fastapi import Request, params
from fastapi.routing import APIRoute
from pydantic import AwareDatetime
from starlette.datastructures import UploadFile

from shared.calendar import BEIJING
from shared.errors import FieldError, Unprocessable

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_ID",
    "Day",
    "Id",
    "Instant",
    "NulCharacter",
    "Offset",
    "Year",
    "refuse_nul_characters",
]

MAX_ID = 2**31 - 1
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)

Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
Offset = Annotated[int, Interval(ge=0, le=MAX_ID)]
Day = Annotated[date, Interval(ge=FIRST_DAY, le=LAST_DAY)]
Year = Annotated[int, Interval(ge=FIRST_DAY.year, le=LAST_DAY.year)]
Instant = Annotated[
    AwareDatetime,
    Interval(
        ge=datetime.combine(FIRST_DAY, time.min, tzinfo=BEIJING),
        lt=datetime.combine(LAST_DAY + timedelta(days=1), time.min, tzinfo=BEIJING),
    ),
]


class NulCharacter(Unprocessable):
    code = "nul_character"


def _nul(where: str) -> NulCharacter:
    return NulCharacter(
        f"{where} contains a NUL character (\\x00), which no field accepts",
        errors=[FieldError(field=where, code="nul_character", message="NUL is not allowed")],
    )


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


async def refuse_nul_characters(request: Request) -> None:
    """Refuse a request that carries NUL in any text it hands to a route (422 ``nul_character``)."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise _nul(name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise _nul(name.replace("\x00", "") or "query")
    for key, raw in request.headers.raw:
        if b"\x00" in raw:
            raise _nul(key.decode("latin-1"))
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return  # the route reads no body, so nothing in it reaches the route
    if isinstance(route.body_field.field_info, params.Form):
        # The form FastAPI has already parsed for the route (and closes after the response).
        # A route that reads JSON gets no form parsed here, whatever its content type says:
        # nobody would close the files it spools.
        for name, item in (await request.form()).multi_items():
            text = (item.filename or "") if isinstance(item, UploadFile) else item
            if "\x00" in name or "\x00" in text:
                raise _nul(name.replace("\x00", "") or "form")
        return
    body = await request.body()
    # A JSON string can only carry NUL as the escape \u0000; parse again only if one may be there.
    if b"\\u0000" not in body:
        return
    try:
        document = json.loads(body)
    except ValueError:
        return  # FastAPI has refused it already, or it is not JSON
    if any("\x00" in text for text in _strings(document)):
        raise _nul("body")
