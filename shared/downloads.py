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
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import quote

from fastapi import Response
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROVISIONAL_MARK = "预测"
"""Shown beside a date or figure counted over a year whose holiday arrangement is not
published yet (its statutory holidays predicted: :mod:`shared.statutory_holidays`)."""

# Column widths in Excel's units (about one Latin character); CJK characters count two.
_MIN_WIDTH = 6.0
_MAX_WIDTH = 50.0
_THIN = Side(style="thin", color="999999")
_CellStyle = dict[str, Any]
_TITLE: _CellStyle = {
    "font": Font(bold=True, size=14),
    "alignment": Alignment(horizontal="center", vertical="center"),
}
_HEADER: _CellStyle = {
    "font": Font(bold=True),
    "fill": PatternFill("solid", fgColor="DDEBF7"),
    "alignment": Alignment(wrap_text=True, vertical="center", horizontal="center"),
    "border": Border(top=_THIN, bottom=_THIN, left=_THIN, right=_THIN),
}
_DATA: _CellStyle = {"alignment": Alignment(wrap_text=True, vertical="top")}


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
    """A write-only workbook (each sheet streamed to its file as it is added, no per-cell
    objects kept: a 5,000-row report is written in half the time); ``title`` goes into its
    properties. Write-only, so a sheet is laid out before its rows go in: :func:`add_sheet`
    does both, and :func:`workbook_bytes` can be called once."""
    workbook = Workbook(write_only=True)
    if title:
        workbook.properties.title = cell_text(title)
    return workbook


def add_sheet(
    workbook: Workbook,
    title: str,
    header: Iterable[str],
    rows: Iterable[Iterable[Any]],
    *,
    heading: str = "",
    preamble: Iterable[Iterable[Any]] = (),
    widths: Sequence[float] = (),
) -> WriteOnlyWorksheet:
    """A sheet named ``title``: the ``heading`` across the table, optional preamble lines, the
    header, then the rows; laid out to read and to print (see the module's docstring).

    ``widths`` fixes the column widths; without it each column is as wide as its text, up to a
    limit past which the text wraps.
    """
    header = [cell_text(name) for name in header]
    preamble = [_values(line) for line in preamble]
    body: Iterable[list[Any]] = (_values(line) for line in rows)
    if not widths:
        body = list(body)
        widths = _fitted_widths(header, body)
    sheet = workbook.create_sheet(cell_text(title)[:31])
    # Every row goes in as cells already styled: placed as they are, not offered to a fresh
    # cell as a value first (openpyxl's way, which fails and formats an error per cell).
    sheet._values_to_row = _placed
    header_row = (1 if heading else 0) + len(preamble) + 1
    _lay_out(sheet, header_row, widths)
    if heading:
        sheet.row_dimensions[1].height = 28
        sheet.merged_cells.add(
            CellRange(min_row=1, min_col=1, max_row=1, max_col=max(len(header), 1))
        )
        sheet.append([_styled(sheet, cell_text(heading), _style_array(sheet, _TITLE))])
    for line in preamble:
        sheet.append([_styled(sheet, value, None) for value in line])
    style = _style_array(sheet, _HEADER)
    sheet.append([_styled(sheet, name, style) for name in header])
    style = _style_array(sheet, _DATA)
    for line in body:
        sheet.append([_styled(sheet, value, style) for value in line])
    return sheet


def _placed(cells: list[Cell], row: int) -> Iterator[Cell]:
    for column, cell in enumerate(cells, start=1):
        cell.row, cell.column = row, column
        yield cell


def _values(line: Iterable[Any]) -> list[Any]:
    return [cell_text(v) if isinstance(v, str) else v for v in line]


def _style_array(sheet: WriteOnlyWorksheet, style: _CellStyle) -> Any:
    """The style array of a cell styled ``style``, registered in the workbook once: setting
    ``cell.font = …`` hashes the style into the workbook's tables on every call, which was a
    fifth of a 5,000-row report when done per cell. A cell built with the array copies it."""
    probe = WriteOnlyCell(sheet)
    for name, value in style.items():
        setattr(probe, name, value)
    return probe._style


def _styled(sheet: WriteOnlyWorksheet, value: Any, style: Any) -> Cell:
    """A cell holding ``value`` as a value (text that starts with "=" stays text), styled by
    ``style``, a :func:`_style_array` (or ``None``). Built at A1: :func:`_placed` moves it."""
    cell = Cell(sheet, row=1, column=1, value=value, style_array=style)
    if cell.data_type == "f":
        cell.data_type = "s"
    return cell


def _display_width(value: Any) -> float:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    lines = text.split("\n")
    return max(sum(2.0 if ord(ch) > 0x2E7F else 1.0 for ch in line) for line in lines) + 2


def _fitted_widths(header: list[str], rows: list[list[Any]]) -> list[float]:
    measured = [_display_width(name) for name in header]
    for line in rows:
        for index, value in enumerate(line[: len(header)]):
            measured[index] = max(measured[index], _display_width(value))
    return [min(max(w, _MIN_WIDTH), _MAX_WIDTH) for w in measured]


def _lay_out(sheet: WriteOnlyWorksheet, header_row: int, widths: Sequence[float]) -> None:
    """Widths, frozen header, print setup: a write-only sheet writes them before its rows."""
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.print_title_rows = f"1:{header_row}"
    sheet.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    sheet.page_setup.orientation = Worksheet.ORIENTATION_LANDSCAPE
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
