"""Bulk import of subscribers from CSV or XLSX (批量导入), streamed.

The file is read row by row (CSV with the ``csv`` module, XLSX with openpyxl in read-only mode, in
a worker thread), so hundreds of thousands of rows need little memory. Batch policy: rows are
written in batches of ``BATCH_ROWS``; each batch is one transaction that upserts its valid rows by
account number (户号) and advances the progress counters, so a batch is written whole or not at
all and the progress always tells exactly what is in. An invalid row is never written: it is
reported with its row number, column and reason, and the rest goes on. If the process stops
mid-import, the import is marked failed at the next start; importing the same file again is safe,
since rows are upserted (a later row for the same account number wins).
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.subscribers.models import (
    ImportState,
    RowError,
    SubscriberCreate,
    SubscriberImport,
    SubscriberImportPublic,
    SubscriberSource,
)
from services.notify.subscribers.service import check_webhooks, upsert
from shared.clock import Clock
from shared.db import session_scope
from shared.errors import NotFound, Unprocessable
from shared.outbound import OutboundPolicy, UrlNotAllowed
from shared.vocab import AreaClass, VocabError

BATCH_ROWS = 1000
MAX_IMPORT_BYTES = 64 * 1024 * 1024  # some 400,000 rows; the whole body is refused beyond
KEPT_ERRORS = 1000
STALLED = timedelta(minutes=10)

# Column headings accepted, English or Chinese (表头).
HEADINGS = {
    "account_number": ("account_number", "户号", "用户编号"),
    "name": ("name", "户名", "用户名称", "客户名称"),
    "mobile": ("mobile", "手机", "手机号", "手机号码"),
    "email": ("email", "邮箱", "电子邮箱"),
    "wecom_webhook": ("wecom_webhook", "企业微信"),
    "dingtalk_webhook": ("dingtalk_webhook", "钉钉"),
    "app_webhook": ("app_webhook", "回调地址", "APP推送地址"),
    "feeder": ("feeder", "线路", "馈线"),
    "transformer_area": ("transformer_area", "台区"),
    "area_class": ("area_class", "区域类别", "供电区域"),
    "served_since": ("served_since", "接电日期", "通电日期"),
}
REQUIRED = ("account_number", "name", "feeder", "transformer_area", "area_class")
SUFFIXES = (".csv", ".xlsx")


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):  # an Excel date cell
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _area_class(cell: str | None) -> str | None:
    """A sheet names the area class as people do (中心区) or by its code; rows store the code.
    A cell that is neither is left for validation to refuse by its row."""
    if cell is None:
        return None
    try:
        return AreaClass.from_text(cell).value
    except VocabError:
        return cell


def _columns(header: list[object]) -> dict[str, int]:
    """Field name → column index, from the header row; refuses a file without the required."""
    names = [(_cell(h) or "").lower() for h in header]
    columns: dict[str, int] = {}
    for field, accepted in HEADINGS.items():
        for heading in accepted:
            if heading.lower() in names:
                columns[field] = names.index(heading.lower())
                break
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise Unprocessable(
            "the header row lacks columns: "
            + ", ".join(f"{m} ({HEADINGS[m][1]})" for m in missing),
            code="import_columns_missing",
        )
    return columns


def _csv_rows(path: Path) -> Iterator[list[object]]:
    with path.open("rb") as raw:
        head = raw.read(65536)
        raw.seek(0)
        encoding = "utf-8-sig"
        try:
            codecs.getincrementaldecoder("utf-8-sig")().decode(head, final=False)
        except UnicodeDecodeError:
            encoding = "gb18030"  # what Excel saves Chinese CSV as
        with io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
            yield from csv.reader(text)


def _xlsx_rows(path: Path) -> Iterator[list[object]]:
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        for row in workbook.worksheets[0].iter_rows(values_only=True):
            yield list(row)
    finally:
        workbook.close()


Batch = tuple[list[dict[str, Any]], list[RowError], int]


def _batches(path: Path) -> Iterator[Batch]:
    """(valid rows, row errors, rows read) per batch; runs in a worker thread."""
    rows = _xlsx_rows(path) if path.suffix == ".xlsx" else _csv_rows(path)
    header = next(rows, None)
    if header is None:
        raise Unprocessable("the file is empty", code="import_empty")
    columns = _columns(header)
    valid: dict[str, dict[str, Any]] = {}
    errors: list[RowError] = []
    read = 0
    for number, row in enumerate(rows, start=2):
        values = {f: _cell(row[i]) if i < len(row) else None for f, i in columns.items()}
        if not any(values.values()):
            continue  # blank line
        read += 1
        with_nul = [f for f, v in values.items() if v is not None and "\x00" in v]
        if with_nul:  # the database's text refuses NUL
            errors += [
                RowError(row=number, field=f, message="NUL is not allowed") for f in with_nul
            ]
        else:
            values["area_class"] = _area_class(values["area_class"])
            try:
                parsed = SubscriberCreate.model_validate(values)
            except ValidationError as exc:
                for e in exc.errors():
                    field = ".".join(str(p) for p in e["loc"]) or "row"
                    errors.append(RowError(row=number, field=field, message=e["msg"]))
            else:
                # One statement may not touch a row twice: within a batch the later row wins.
                valid[parsed.account_number] = {
                    **parsed.model_dump(exclude={"opt_outs"}),
                    "_row": number,
                }
        if read % BATCH_ROWS == 0:
            yield list(valid.values()), errors, read
            valid, errors, read = {}, [], 0
    if read:
        yield list(valid.values()), errors, read


async def _allowed(
    rows: list[dict[str, Any]], errors: list[RowError], outbound: OutboundPolicy
) -> list[dict[str, Any]]:
    """The rows whose webhooks may be called; the others become row errors."""
    allowed = []
    for row in rows:
        number = row.pop("_row")
        try:
            await check_webhooks(outbound, row)
        except UrlNotAllowed as exc:
            errors.extend(
                RowError(row=number, field=e.field, message=e.message) for e in exc.errors
            )
        else:
            allowed.append(row)
    return allowed


async def _write_batch(
    session: AsyncSession,
    import_id: int,
    batch: Batch,
    kept_errors: int,
    now: datetime,
    outbound: OutboundPolicy,
) -> int:
    rows, errors, read = batch
    rows = await _allowed(rows, errors, outbound)
    await upsert(session, rows, SubscriberSource.import_, now=now)
    job = await session.get(SubscriberImport, import_id, with_for_update=True)
    assert job is not None
    job.progressed_at = now
    job.rows_read += read
    job.rows_imported += len(rows)
    job.rows_failed += len({e.row for e in errors})
    room = KEPT_ERRORS - kept_errors
    if errors and room > 0:
        kept = json.loads(job.errors) + [e.model_dump() for e in errors[:room]]
        job.errors = json.dumps(kept, ensure_ascii=False)
        kept_errors += min(room, len(errors))
    session.add(job)
    return kept_errors


async def run_import(
    engine: AsyncEngine, import_id: int, path: Path, clock: Clock, outbound: OutboundPolicy
) -> None:
    """Import the file batch by batch (each batch its own transaction), then finish the job."""
    batches = _batches(path)
    kept_errors = 0
    try:
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                break
            async with session_scope(engine) as session:
                kept_errors = await _write_batch(
                    session, import_id, batch, kept_errors, clock.now(), outbound
                )
        state, error = ImportState.done, None
    except Unprocessable as exc:
        state, error = ImportState.failed, exc.detail
    except Exception as exc:  # a broken file: say so on the job rather than lose it
        state, error = ImportState.failed, f"the file could not be read: {exc!r}"
    finally:
        path.unlink(missing_ok=True)
    async with session_scope(engine) as session:
        await session.exec(
            update(SubscriberImport)
            .where(col(SubscriberImport.id) == import_id)
            .values(state=state, error=error, finished_at=clock.now())
        )


async def fail_interrupted(
    engine: AsyncEngine, *, now: datetime, stalled_after: timedelta = STALLED
) -> None:
    """At start-up: imports that stopped moving (their process was stopped) will not finish."""
    async with session_scope(engine) as session:
        await session.exec(
            update(SubscriberImport)
            .where(
                col(SubscriberImport.state) == ImportState.running,
                col(SubscriberImport.progressed_at) < now - stalled_after,
            )
            .values(
                state=ImportState.failed,
                error="interrupted by a restart; the batches counted are in, import the file "
                "again to finish (rows are upserted, nothing doubles)",
                finished_at=now,
            )
        )


def to_public(job: SubscriberImport) -> SubscriberImportPublic:
    return SubscriberImportPublic.model_validate(
        {**job.model_dump(), "errors": json.loads(job.errors)}
    )


async def get_import(session: AsyncSession, import_id: int) -> SubscriberImport:
    job = await session.get(SubscriberImport, import_id)
    if job is None:
        raise NotFound(f"import {import_id} does not exist", code="import_not_found")
    return job


def check_header(path: Path) -> None:
    """Refuse a file up front if it is empty or its header lacks a required column."""
    rows = _xlsx_rows(path) if path.suffix == ".xlsx" else _csv_rows(path)
    try:
        header = next(rows, None)
        if header is None:
            raise Unprocessable("the file is empty", code="import_empty")
        _columns(header)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
