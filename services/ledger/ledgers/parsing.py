"""Reading the ledger's free-text columns: 完成时间 (due) and 责任单位 (responsible units).

Both parsers are used for the seeded plans and for every imported spreadsheet, so a county's own
台账 in the Annex 2 layout is read exactly like Dongying's.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared import units


class DueKind(StrEnum):
    """How an item's 完成时间 reads: a date, 持续推进, or 已实现，持续巩固提升."""

    date = "date"
    ongoing = "ongoing"
    achieved_consolidating = "achieved_consolidating"


class ResponsibilityRole(StrEnum):
    """牵头 (lead) or 配合 / 按职责分工负责 alongside a lead (supporting)."""

    lead = "lead"
    supporting = "supporting"


class DueTextError(ValueError):
    pass


@dataclass(frozen=True)
class Due:
    kind: DueKind
    on: date | None = None


@dataclass(frozen=True)
class Responsibility:
    unit: str
    role: ResponsibilityRole


_SPACE = re.compile(r"\s+")
_NOTE = re.compile(r"[（(][^）)]*[）)]")
_FULL_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日前?")
_MONTH_END = re.compile(r"(\d{4})年(\d{1,2})月底前?")
_YEAR_END = re.compile(r"(\d{4})年底前?")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_BARE_YEAR = re.compile(r"\d{4}年")
_SEPARATORS = re.compile(r"[；;、,，]")
_ONGOING = "持续推进"
_ACHIEVED = "已实现持续巩固提升"


def _one_date(part: str) -> date | None:
    try:
        if m := _FULL_DATE.fullmatch(part):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _ISO_DATE.fullmatch(part):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := _MONTH_END.fullmatch(part):
            year, month = int(m[1]), int(m[2])
            return date(year, month, calendar.monthrange(year, month)[1])
        if m := _YEAR_END.fullmatch(part):
            return date(int(m[1]), 12, 31)
    except ValueError as exc:
        raise DueTextError(f"'{part}' is not a real date") from exc
    return None


def parse_due(text: str) -> Due:
    """Parse a 完成时间 cell: "2021年6月底前" → 2021-06-30, "2022年底前" → 2022-12-31,
    "2021年6月15日前" → 2021-06-15, "持续推进" → ongoing, "已实现，持续巩固提升。" → achieved.

    Several dates ("2021年底前；2022年底前", "2021年、2022年底前") give the last one: the item is
    complete when its last milestone is. A note in brackets is ignored.
    """
    compact = _NOTE.sub("", _SPACE.sub("", text)).rstrip("。.")
    if not compact:
        raise DueTextError("完成时间 is empty")
    if compact == _ONGOING:
        return Due(DueKind.ongoing)
    if _SEPARATORS.sub("", compact) == _ACHIEVED:
        return Due(DueKind.achieved_consolidating)
    parts = [p for p in _SEPARATORS.split(compact) if p]
    dates: list[date] = []
    for index, part in enumerate(parts):
        found = _one_date(part)
        if found is not None:
            dates.append(found)
        elif not (_BARE_YEAR.fullmatch(part) and index < len(parts) - 1):
            raise DueTextError(
                f"cannot read 完成时间 '{text}': expected a date such as 2021年6月底前, "
                "2021年6月15日前 or 2022年底前, or 持续推进 / 已实现，持续巩固提升"
            )
    return Due(DueKind.date, max(dates))


_LEAD_MARK = "牵头"
_DIVISION_MARK = "按职责分工负责"


def parse_responsibilities(text: str) -> list[Responsibility]:
    """Split a 责任单位 cell into units with their role.

    Clauses are separated by commas. Units in a clause marked 牵头, or in an unmarked clause, lead.
    Units in a clause marked 按职责分工负责 support when another clause names a lead; when that
    clause is all there is, every unit in it is responsible for its own share, so each leads.
    """
    clauses = [c for c in re.split(r"[，,;；]", _SPACE.sub("", text)) if c]
    parsed: list[tuple[list[str], str]] = []
    for clause in clauses:
        mark = ""
        for candidate in (_LEAD_MARK, _DIVISION_MARK):
            if clause.endswith(candidate):
                clause, mark = clause.removesuffix(candidate), candidate
        # A unit's full name or old spelling (各市电力主管部门) is read as the hierarchy names it.
        names = [units.canonical(u) or u for u in clause.split("、") if u]
        if names:
            parsed.append((names, mark))
    if not parsed:
        raise ValueError("责任单位 is empty")
    has_lead = any(mark != _DIVISION_MARK for _, mark in parsed)
    result: list[Responsibility] = []
    seen: set[str] = set()
    for names, mark in parsed:
        supporting = mark == _DIVISION_MARK and has_lead
        role = ResponsibilityRole.supporting if supporting else ResponsibilityRole.lead
        for unit in names:
            if unit not in seen:
                seen.add(unit)
                result.append(Responsibility(unit, role))
    return result
