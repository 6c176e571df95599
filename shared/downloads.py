"""Files a service hands out: .xlsx workbooks with a bold header row, and attachment responses."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Response
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(content: bytes, media_type: str, filename: str) -> Response:
    """A download; ``nosniff`` so that an uploaded file is never rendered as a page."""
    headers = {
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(content, media_type=media_type, headers=headers)


def new_workbook() -> Workbook:
    """A workbook without openpyxl's default empty sheet."""
    workbook = Workbook()
    if workbook.active is not None:
        workbook.remove(workbook.active)
    return workbook


def add_sheet(
    workbook: Workbook,
    title: str,
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    preamble: Iterable[Iterable[Any]] = (),
    widths: Sequence[float] = (),
) -> Worksheet:
    """A sheet: optional preamble lines, the header in bold, then the rows."""
    sheet = workbook.create_sheet(title)
    for line in preamble:
        sheet.append(list(line))
    sheet.append(list(header))
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    return sheet


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
