"""Ledgers as spreadsheets in the Annex 2 layout (序号, 分类, 工作目标任务, 责任单位, 完成时间).

Counties and companies keep their own 台账 in that form; an import is checked row by row and
either every row is stored or none is.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from fastapi import Response
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.parsing import DueTextError, parse_due, parse_responsibilities
from services.ledger.ledgers.service import ItemFilter, ItemPublic, NewItem, get_ledger, list_items
from shared.downloads import XLSX_MEDIA_TYPE, add_sheet, attachment, new_workbook, workbook_bytes
from shared.errors import FieldError, PayloadTooLarge, Unprocessable
from shared.pagination import ALL_ROWS
from shared.timeutil import format_beijing

ANNEX2_COLUMNS = ("序号", "分类", "工作目标任务", "责任单位", "完成时间")
STATUS_COLUMNS = ("状态", "进度(%)", "最新进展", "最近更新(北京时间)", "是否逾期", "逾期天数")
EXPORT_COLUMNS = (*ANNEX2_COLUMNS, *STATUS_COLUMNS)
# The export's column widths: the task (工作目标任务) and the narrative wrap.
ITEM_WIDTHS = (6, 14, 60, 30, 16, 10, 8, 40, 18, 8, 8)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_header(cells: Sequence[str]) -> bool:
    return tuple(c.replace(" ", "") for c in cells[:5]) == ANNEX2_COLUMNS


def _row_error(row: int, column: str, code: str, message: str) -> FieldError:
    return FieldError(field=f"row {row}: {column}", code=code, message=message)


def parse_rows(rows: Iterable[tuple[int, Sequence[str]]]) -> list[NewItem]:
    """Check rows of cell text (with their sheet row numbers) and turn them into items.

    Raises :class:`Unprocessable` listing every bad row; a blank 分类 continues the one above
    (the Annex merges it over a category's rows).
    """
    items: list[NewItem] = []
    errors: list[FieldError] = []
    header_seen = False
    category = ""
    seqs: dict[int, int] = {}
    for row_no, raw in rows:
        cells = [*raw, "", "", "", "", ""][:5]
        if not any(cells):
            continue
        if _is_header(cells):
            header_seen = True
            continue
        if not header_seen:
            continue
        seq_text, cat, task, units, due = cells
        row_errors = [
            _row_error(row_no, column, "nul_character", "NUL (\\x00) is not allowed")
            for column, cell in zip(ANNEX2_COLUMNS, cells, strict=True)
            if "\x00" in cell
        ]
        try:
            seq = int(seq_text)
            if seq <= 0:
                raise ValueError
        except ValueError:
            seq = 0
            row_errors.append(
                _row_error(
                    row_no, "序号", "bad_seq", f"'{seq_text}' is not a positive whole number"
                )
            )
        if seq and seq in seqs:
            row_errors.append(
                _row_error(row_no, "序号", "duplicate_seq", f"序号 {seq} also on row {seqs[seq]}")
            )
        category = cat or category
        if not category:
            row_errors.append(
                _row_error(row_no, "分类", "category_required", "the first item needs a 分类")
            )
        if not task:
            row_errors.append(
                _row_error(row_no, "工作目标任务", "task_required", "工作目标任务 is empty")
            )
        try:
            parse_responsibilities(units)
        except ValueError as exc:
            row_errors.append(_row_error(row_no, "责任单位", "units_required", str(exc)))
        try:
            parse_due(due)
        except DueTextError as exc:
            row_errors.append(_row_error(row_no, "完成时间", "bad_due", str(exc)))
        if row_errors:
            errors.extend(row_errors)
            continue
        seqs[seq] = row_no
        items.append(
            NewItem(seq=seq, category=category, task=task, responsible_text=units, due_text=due)
        )
    if not header_seen:
        raise Unprocessable(
            "no header row found; the first sheet needs the columns " + "、".join(ANNEX2_COLUMNS),
            code="header_not_found",
        )
    if errors:
        raise Unprocessable(
            f"{len(errors)} problem(s) in the sheet; nothing was imported",
            code="invalid_rows",
            errors=errors,
        )
    if not items:
        raise Unprocessable("the sheet has no items", code="no_items")
    return items


def read_ledger_xlsx(content: bytes) -> list[NewItem]:
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("the spreadsheet is larger than 5 MiB", code="file_too_large")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise Unprocessable("the file is not an .xlsx workbook", code="not_xlsx") from exc
    try:
        sheet = workbook.worksheets[0]
        if (sheet.max_row or 0) > MAX_IMPORT_ROWS + 50:
            raise Unprocessable(f"at most {MAX_IMPORT_ROWS} rows per import", code="too_many_rows")
        rows = (
            (row_no, [_text(v) for v in values])
            for row_no, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        return parse_rows(rows)
    finally:
        workbook.close()


def item_row(item: ItemPublic) -> list[Any]:
    """An item in the export layout: the Annex 2 columns, then its state."""
    return [
        item.seq,
        item.category,
        item.task,
        item.responsible_text,
        item.due_text,
        item.status_label,
        item.progress,
        item.latest_narrative or "",
        format_beijing(item.last_update_at),
        "是" if item.overdue else "否",
        item.days_overdue if item.days_overdue is not None else "",
    ]


def write_ledger_xlsx(title: str, items: Sequence[ItemPublic]) -> bytes:
    workbook = new_workbook(title)
    add_sheet(
        workbook,
        "任务台账",
        EXPORT_COLUMNS,
        (item_row(item) for item in items),
        heading=title,
        widths=ITEM_WIDTHS,
    )
    return workbook_bytes(workbook)


def write_ledger_csv(items: Sequence[ItemPublic]) -> bytes:
    """CSV in UTF-8 with a BOM, so that Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(item_row(item) for item in items)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def read_ledger_csv(content: bytes) -> list[NewItem]:
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("the file is larger than 5 MiB", code="file_too_large")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("the CSV file is not UTF-8", code="not_utf8") from exc
    reader = csv.reader(io.StringIO(text))
    return parse_rows((n, [c.strip() for c in row]) for n, row in enumerate(reader, start=1))


async def export_ledger(session: AsyncSession, code: str, fmt: str, *, as_of: date) -> Response:
    """A ledger with each item's status as of ``as_of`` as an .xlsx or .csv download (导出台账),
    for the API and the pages alike."""
    if fmt not in ("xlsx", "csv"):
        raise Unprocessable("export as .xlsx or .csv", code="unsupported_format")
    ledger = await get_ledger(session, code)
    page = await list_items(session, ItemFilter(ledger_code=code), as_of=as_of, paging=ALL_ROWS)
    if fmt == "csv":
        return attachment(write_ledger_csv(page.items), "text/csv; charset=utf-8", f"{code}.csv")
    return attachment(write_ledger_xlsx(ledger.name, page.items), XLSX_MEDIA_TYPE, f"{code}.xlsx")
