"""Ledgers as spreadsheets in the Annex 2 layout (序号, 分类, 工作目标任务, 责任单位, 完成时间).

Counties and companies keep their own 台账 in that form; an import is checked row by row and
either every row is stored or none is.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fastapi import Response
from openpyxl import load_workbook
from sqlmodel.ext.asyncio.session import AsyncSession

from services.ledger.ledgers.items import ItemFilter, list_items
from services.ledger.ledgers.models import ItemPublic
from services.ledger.ledgers.parsing import DueTextError, parse_due, parse_responsibilities
from services.ledger.ledgers.service import NewItem, get_ledger
from shared.downloads import XLSX_MEDIA_TYPE, add_sheet, attachment, new_workbook, workbook_bytes
from shared.errors import FieldError, HuodianError, PayloadTooLarge, Unprocessable
from shared.pagination import ALL_ROWS
from shared.timeutil import format_beijing

ANNEX2_COLUMNS = ("序号", "分类", "工作目标任务", "责任单位", "完成时间")
STATUS_COLUMNS = ("状态", "进度(%)", "最新进展", "最近更新(北京时间)", "是否逾期", "逾期天数")
EXPORT_COLUMNS = (*ANNEX2_COLUMNS, *STATUS_COLUMNS)
# The export's column widths: the task (工作目标任务) and the narrative wrap.
ITEM_WIDTHS = (6, 14, 60, 30, 16, 10, 8, 40, 18, 8, 8)
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 5000
# A title, headers repeated on each printed page, blank lines: rows that are not items.
MAX_EXTRA_ROWS = 50
# What an .xlsx of 5 MiB may unpack to, and how many parts it may hold; beyond is a zip bomb.
MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024
MAX_ZIP_MEMBERS = 1000
MAX_LISTED_FORMULAS = 50


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


@dataclass(frozen=True)
class RowProblem:
    """What is wrong with one cell of a row, in words for the person fixing the sheet."""

    column: str
    code: str
    message: str


@dataclass(frozen=True)
class CheckedRow:
    """One item row of the sheet as read, with every problem found in it."""

    row_no: int
    cells: tuple[str, ...]
    problems: tuple[RowProblem, ...]
    item: NewItem | None


@dataclass(frozen=True)
class SheetCheck:
    header_seen: bool
    rows: tuple[CheckedRow, ...]

    @property
    def items(self) -> list[NewItem]:
        return [row.item for row in self.rows if row.item is not None]

    @property
    def problem_count(self) -> int:
        return sum(len(row.problems) for row in self.rows)


def check_rows(
    rows: Iterable[tuple[int, Sequence[str]]], *, known_unit: Callable[[str], bool] | None = None
) -> SheetCheck:
    """Check rows of cell text (with their sheet row numbers), keeping every problem of every
    row; a blank 分类 continues the one above (the Annex merges it over a category's rows).

    Rows before the header (a title) are skipped, and so is a header repeated on each printed
    page. ``known_unit`` says whether a 责任单位 may be used; by default any may.
    """
    checked: list[CheckedRow] = []
    header_seen = False
    category = ""
    seqs: dict[int, int] = {}
    for row_no, raw in rows:
        cells = (*raw, "", "", "", "", "")[:5]
        if not any(cells):
            continue
        if _is_header(cells):
            header_seen = True
            continue
        if not header_seen:
            continue
        seq_text, cat, task, units, due = cells
        problems = [
            RowProblem(column, "nul_character", "不允许包含 NUL（\\x00）字符")
            for column, cell in zip(ANNEX2_COLUMNS, cells, strict=True)
            if "\x00" in cell
        ]
        try:
            seq = int(seq_text)
            if seq <= 0:
                raise ValueError
        except ValueError:
            seq = 0
            problems.append(RowProblem("序号", "bad_seq", f"“{seq_text}”不是正整数"))
        if seq and seq in seqs:
            problems.append(
                RowProblem("序号", "duplicate_seq", f"序号 {seq} 与第 {seqs[seq]} 行重复")
            )
        category = cat or category
        if not category:
            problems.append(RowProblem("分类", "category_required", "第一个事项须填写分类"))
        if not task:
            problems.append(RowProblem("工作目标任务", "task_required", "工作目标任务为空"))
        try:
            named = [r.unit for r in parse_responsibilities(units)]
        except ValueError:
            problems.append(RowProblem("责任单位", "units_required", "责任单位为空"))
        else:
            problems.extend(
                RowProblem("责任单位", "unknown_unit", f"未知的责任单位“{unit}”")
                for unit in named
                if known_unit is not None and not known_unit(unit)
            )
        try:
            parse_due(due)
        except DueTextError:
            problems.append(
                RowProblem(
                    "完成时间",
                    "bad_due",
                    f"无法识别完成时间“{due}”：应为 2021年6月底前、2021年6月15日前、"
                    "2022年底前等日期，或 持续推进、已实现，持续巩固提升",
                )
            )
        item = None
        if not problems:
            seqs[seq] = row_no
            item = NewItem(
                seq=seq, category=category, task=task, responsible_text=units, due_text=due
            )
        checked.append(CheckedRow(row_no, cells, tuple(problems), item))
    return SheetCheck(header_seen, tuple(checked))


def parse_rows(rows: Iterable[tuple[int, Sequence[str]]]) -> list[NewItem]:
    """Check rows of cell text and turn them into items, all or none.

    Raises :class:`Unprocessable` listing every bad row (see :func:`check_rows`).
    """
    check = check_rows(rows)
    if not check.header_seen:
        raise Unprocessable(
            "no header row found; the first sheet needs the columns " + "、".join(ANNEX2_COLUMNS),
            code="header_not_found",
        )
    if check.problem_count:
        raise Unprocessable(
            f"{check.problem_count} problem(s) in the sheet; nothing was imported",
            code="invalid_rows",
            errors=[
                FieldError(field=f"row {row.row_no}: {p.column}", code=p.code, message=p.message)
                for row in check.rows
                for p in row.problems
            ],
        )
    if not check.items:
        raise Unprocessable("the sheet has no items", code="no_items")
    return check.items


def _refuse_zip_bomb(content: bytes) -> None:
    """Refuse a workbook whose parts would unpack to more than :data:`MAX_UNCOMPRESSED_BYTES`.

    The sizes are the ones the zip declares; :mod:`zipfile` never inflates a member past its
    declared size (a lying member fails its CRC check instead), so they bound what openpyxl reads.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unprocessable("the file is not an .xlsx workbook", code="not_xlsx") from exc
    if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_UNCOMPRESSED_BYTES:
        raise PayloadTooLarge(
            "the workbook unpacks to more than 50 MiB", code="xlsx_uncompressed_too_large"
        )


def xlsx_rows(content: bytes) -> list[tuple[int, list[str]]]:
    """The cell text of the first sheet's rows, with their row numbers, from an upload that is
    treated as hostile: its size, its unpacked size, its row count and formulas are refused."""
    if len(content) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge("the spreadsheet is larger than 5 MiB", code="file_too_large")
    _refuse_zip_bomb(content)
    rows: list[tuple[int, list[str]]] = []
    formulas: list[FieldError] = []
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
        try:
            sheet = workbook.worksheets[0]
            cells = sheet.iter_rows(max_col=len(EXPORT_COLUMNS))
            for row_no, row in enumerate(cells, start=1):
                if row_no > MAX_IMPORT_ROWS + MAX_EXTRA_ROWS:
                    raise Unprocessable(
                        f"at most {MAX_IMPORT_ROWS} rows per import", code="too_many_rows"
                    )
                formulas.extend(
                    FieldError(
                        field=f"row {row_no}: {cell.coordinate}",
                        code="formula_not_allowed",
                        message="单元格含公式，请粘贴为数值后再导入",
                    )
                    for cell in row
                    if getattr(cell, "data_type", None) == "f"
                )
                rows.append((row_no, [_text(cell.value) for cell in row]))
        finally:
            workbook.close()
    except HuodianError:
        raise
    except Exception as exc:
        # openpyxl reports a malformed part with whatever its XML or zip layer raised (KeyError,
        # ParseError, ValueError, TypeError …); from an upload each means "not a workbook".
        raise Unprocessable("the file is not an .xlsx workbook", code="not_xlsx") from exc
    if formulas:
        raise Unprocessable(
            f"{len(formulas)} cell(s) hold formulas; paste them as values",
            code="formula_not_allowed",
            errors=formulas[:MAX_LISTED_FORMULAS],
        )
    return rows


def read_ledger_xlsx(content: bytes) -> list[NewItem]:
    return parse_rows(xlsx_rows(content))


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
