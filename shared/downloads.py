"""Files a service hands out: .xlsx workbooks with a bold header row, and attachment responses.

A workbook must survive any text the services have stored: XML 1.0 (and so .xlsx) cannot carry
most C0 control characters (``\x00``–``\x08``, ``\x0b``, ``\x0c``, ``\x0e``–``\x1f``), and
openpyxl raises ``IllegalCharacterError`` on them. :func:`cell_text` replaces each with U+FFFD
(the replacement character, so a reader sees that something was there), and every value goes in
as a value: text that starts with ``=`` stays text, never a formula a spreadsheet would run.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
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


def cell_text(value: str) -> str:
    """``value`` with every character a workbook cannot hold replaced by U+FFFD."""
    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    return cleaned


def new_workbook(title: str = "") -> Workbook:
    """A workbook without openpyxl's default empty sheet; ``title`` goes into its properties."""
    workbook = Workbook()
    if workbook.active is not None:
        workbook.remove(workbook.active)
    if title:
        workbook.properties.title = cell_text(title)
    return workbook


def _append(sheet: Worksheet, line: Iterable[Any]) -> None:
    sheet.append([cell_text(v) if isinstance(v, str) else v for v in line])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


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
        _append(sheet, line)
    _append(sheet, header)
    for cell in sheet[sheet.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        _append(sheet, row)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    return sheet


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
