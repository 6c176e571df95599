"""Files a service hands out: .xlsx workbooks laid out for reading and printing, and attachments.

Every sheet is laid out like the plans' own annexes (附件): an optional title row across the
table, a bold shaded header, columns as wide as their text (CJK characters count double, long
text wraps), the header frozen while scrolling and repeated on every printed page, and A4
landscape fitted to one page wide.

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
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROVISIONAL_MARK = "预测"
"""Shown beside a date or figure counted over a year whose holiday arrangement is not
published yet (its statutory holidays predicted: :mod:`shared.statutory_holidays`)."""

# Column widths in Excel's units (about one Latin character); CJK characters count two.
_MIN_WIDTH = 6.0
_MAX_WIDTH = 50.0
_THIN = Side(style="thin", color="999999")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WRAP_TOP = Alignment(wrap_text=True, vertical="top")


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
    values = [cell_text(v) if isinstance(v, str) else v for v in line]
    sheet.append(values)
    # The row just appended, read without sheet.max_row, which scans every cell (O(n²) rows).
    row = sheet._current_row
    for column, value in enumerate(values, start=1):
        if isinstance(value, str) and value.startswith("="):
            cell = sheet.cell(row, column)
            if cell.data_type == "f":
                cell.data_type = "s"


def add_sheet(
    workbook: Workbook,
    title: str,
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    heading: str = "",
    preamble: Iterable[Iterable[Any]] = (),
    widths: Sequence[float] = (),
) -> Worksheet:
    """A sheet named ``title``: the ``heading`` across the table, optional preamble lines, the
    header, then the rows; laid out to read and to print (see the module's docstring).

    ``widths`` fixes the column widths; without it each column is as wide as its text, up to a
    limit past which the text wraps.
    """
    header = list(header)
    sheet = workbook.create_sheet(cell_text(title)[:31])
    if heading:
        _append(sheet, [heading])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(header), 1))
        sheet.cell(1, 1).font = Font(bold=True, size=14)
        sheet.cell(1, 1).alignment = Alignment(horizontal="center", vertical="center")
        sheet.row_dimensions[1].height = 28
    for line in preamble:
        _append(sheet, line)
    _append(sheet, header)
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
        cell.border = Border(top=_THIN, bottom=_THIN, left=_THIN, right=_THIN)
    _append_aligned(sheet, rows, _WRAP_TOP)
    _lay_out(sheet, header, header_row, widths)
    return sheet


def _append_aligned(sheet: Worksheet, rows: Iterable[Iterable[Any]], alignment: Alignment) -> None:
    """:func:`_append` every row, each cell aligned ``alignment``, in one pass that builds the
    cells with their style. ``cell.alignment = …`` hashes the Alignment into the workbook's
    table once per cell, and a second walk over the sheet to set it took a fifth of a
    5,000-row report: the Alignment is registered once, each cell gets its own copy of the
    style array holding its index (what the setter stores)."""
    probe = Cell(sheet)
    probe.alignment = alignment
    style = probe._style
    cells = sheet._cells
    row_index = sheet._current_row
    for line in rows:
        row_index += 1
        for column, raw in enumerate(line, start=1):
            value = cell_text(raw) if isinstance(raw, str) else raw
            cell = Cell(sheet, row=row_index, column=column, value=value, style_array=style)
            if cell.data_type == "f":
                cell.data_type = "s"  # text that starts with "=" stays text
            cells[(row_index, column)] = cell
    sheet._current_row = row_index


def _display_width(value: Any) -> float:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    lines = text.split("\n")
    return max(sum(2.0 if ord(ch) > 0x2E7F else 1.0 for ch in line) for line in lines) + 2


def _lay_out(sheet: Worksheet, header: list[str], header_row: int, widths: Sequence[float]) -> None:
    if not widths:
        measured = [_display_width(name) for name in header]
        for line in sheet.iter_rows(min_row=header_row + 1, max_col=len(header), values_only=True):
            for index, value in enumerate(line):
                measured[index] = max(measured[index], _display_width(value))
        widths = [min(max(w, _MIN_WIDTH), _MAX_WIDTH) for w in measured]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = sheet.cell(header_row + 1, 1)
    sheet.print_title_rows = f"1:{header_row}"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.orientation = sheet.ORIENTATION_LANDSCAPE
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.page_margins.top = sheet.page_margins.bottom = 0.5


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
