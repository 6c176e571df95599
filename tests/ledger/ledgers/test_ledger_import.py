"""Ledger import with a row-by-row preview (导入预览) and a single-use confirmation (确认导入)."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from services.ledger.ledgers import importing, spreadsheet
from services.ledger.ledgers.importing import ImportGrant, LedgerDraft
from services.ledger.ledgers.models import Ledger, Unit
from shared.auth import Role
from shared.clock import SYSTEM_CLOCK
from shared.db import session_scope
from shared.errors import HuodianError
from tests.conftest import add_user, client_for, sign_in
from tests.ledger.ledgers.test_spreadsheet_api import xlsx

HEADER = spreadsheet.ANNEX2_COLUMNS
CLEAN_ROWS = [
    HEADER,
    (
        1,
        "工作目标",
        "压减办电时间。",
        "各供电企业牵头，各电力主管部门按职责分工负责",
        "2026年6月底前",
    ),
    (2, None, "推广电子证照。", "各供电企业", "持续推进"),
    HEADER,  # repeated on every printed page
    (3, "保障措施", "建立进展报送制度。", "各电力主管部门", "2026年3月15日前"),
]
DRAFT = LedgerDraft(code="county-2026", name="某县任务台账", plan_end=None)


def _zip_with(content: bytes, name: str, member: bytes) -> bytes:
    """``content`` (an .xlsx) with one more part, stored deflated."""
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, member)
    return buffer.getvalue()


def _entity_bomb() -> bytes:
    """An .xlsx whose sheet expands one entity ten to the ninth times ("billion laughs")."""
    entities = "".join(
        f'<!ENTITY lol{n} "{("&lol%s;" % (n - 1 if n > 1 else "")) * 10}">' for n in range(1, 10)
    )
    source = zipfile.ZipFile(io.BytesIO(xlsx(CLEAN_ROWS)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            data = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                sheet = data.decode()
                start, end = sheet.index("<t>") + 3, sheet.index("</t>")
                doctype = f'<!DOCTYPE worksheet [<!ENTITY lol "lol">{entities}]>'
                data = (doctype + sheet[:start] + "&lol9;" + sheet[end:]).encode()
            archive.writestr(member, data)
    return buffer.getvalue()


def _with_formula() -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in CLEAN_ROWS[:3]:
        sheet.append(list(row))
    sheet["A4"] = "=A3+1"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.fixture
async def units_known(apps):
    """The units of CLEAN_ROWS, as the ledger knows them once a plan names them."""
    async with session_scope(apps.ledger.state.engine) as session:
        session.add_all([Unit(name="各供电企业"), Unit(name="各电力主管部门")])


async def _count(apps, model) -> int:
    async with session_scope(apps.ledger.state.engine) as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def _preview(apps, content: bytes, draft: LedgerDraft = DRAFT, admin: str = "admin"):
    async with session_scope(apps.ledger.state.engine) as session:
        return await importing.preview_import(
            session, content, draft, filename="台账.xlsx", admin=admin, now=SYSTEM_CLOCK.now()
        )


async def _confirm(apps, token: str, admin: str = "admin"):
    async with session_scope(apps.ledger.state.engine) as session:
        ledger, count = await importing.confirm_import(
            session, token, admin=admin, now=SYSTEM_CLOCK.now()
        )
        return ledger.code, count


class TestPreview:
    async def test_clean_sheet_gets_a_token_and_nothing_is_written(self, apps, units_known):
        preview = await _preview(apps, xlsx(CLEAN_ROWS))
        assert preview.problem_count == 0
        assert preview.token
        assert [(r.row, r.seq, r.category) for r in preview.rows] == [
            (3, "1", "工作目标"),
            (4, "2", ""),
            (6, "3", "保障措施"),
        ]
        assert await _count(apps, Ledger) == 0
        assert await _count(apps, Unit) == 2
        assert await _count(apps, ImportGrant) == 1

    async def test_every_row_shows_its_problems_in_chinese(self, apps, units_known):
        rows = [
            *CLEAN_ROWS,
            ("x", None, "序号不是数字", "各供电企业", "2026年底前"),
            (3, None, "序号重复", "各供电企业", "2026年底前"),
            (5, None, "", "各供电企业", "下个月"),
            (6, None, "没有责任单位", "", "2026年2月30日前"),
            (7, None, "未知单位", "月球供电所", "2026年底前"),
        ]
        preview = await _preview(apps, xlsx(rows))
        assert preview.token is None
        found = {r.row: [(p.column, p.code) for p in r.problems] for r in preview.rows}
        assert found == {
            3: [],
            4: [],
            6: [],
            7: [("序号", "bad_seq")],
            8: [("序号", "duplicate_seq")],
            9: [("工作目标任务", "task_required"), ("完成时间", "bad_due")],
            10: [("责任单位", "units_required"), ("完成时间", "bad_due")],
            11: [("责任单位", "unknown_unit")],
        }
        messages = [p.message for r in preview.rows for p in r.problems]
        assert "序号 3 与第 6 行重复" in messages
        assert "未知的责任单位“月球供电所”" in messages
        assert all(any("\u4e00" <= c <= "\u9fff" for c in m) for m in messages)
        assert preview.problem_count == 7
        assert await _count(apps, ImportGrant) == 0
        assert await _count(apps, Unit) == 2

    async def test_sheet_problems_no_header_and_code_taken(self, apps, seeded):
        preview = await _preview(
            apps, xlsx([("甲", "乙")]), LedgerDraft(code="dongying-2021", name="重名")
        )
        assert [p.code for p in preview.sheet_problems] == ["header_not_found", "ledger_exists"]
        assert preview.token is None

    async def test_units_of_the_hierarchy_are_known_without_a_ledger(self, apps):
        preview = await _preview(apps, xlsx(CLEAN_ROWS))
        assert preview.problem_count == 0


class TestHostileUploads:
    @pytest.mark.parametrize(
        ("content", "status", "code"),
        [
            (b"PK\x03\x04 not really a zip", 422, "not_xlsx"),
            (b"<html>hello</html>", 422, "not_xlsx"),
            (_zip_with(b"", "hello.txt", b"hi"), 422, "not_xlsx"),
            (b"x" * (spreadsheet.MAX_IMPORT_BYTES + 1), 413, "file_too_large"),
            (
                _zip_with(xlsx(CLEAN_ROWS), "xl/media/zeros.bin", bytes(51 * 1024 * 1024)),
                413,
                "xlsx_uncompressed_too_large",
            ),
            (_entity_bomb(), 422, "not_xlsx"),
            (_with_formula(), 422, "formula_not_allowed"),
        ],
        ids=[
            "bad-zip",
            "not-zip",
            "zip-not-xlsx",
            "too-large",
            "zip-bomb",
            "entity-bomb",
            "formula",
        ],
    )
    async def test_refused_with_a_code(self, apps, content, status, code):
        with pytest.raises(HuodianError) as refused:
            await _preview(apps, content)
        assert (refused.value.status, refused.value.code) == (status, code)
        assert await _count(apps, ImportGrant) == 0

    async def test_formula_cells_are_named(self, apps):
        with pytest.raises(HuodianError) as refused:
            await _preview(apps, _with_formula())
        assert [e.field for e in refused.value.errors] == ["row 4: A4"]
        assert "公式" in refused.value.detail

    async def test_too_many_rows(self, apps):
        rows = [HEADER, *((n, "类", "任务", "各供电企业", "持续推进") for n in range(1, 5100))]
        with pytest.raises(HuodianError) as refused:
            await _preview(apps, xlsx(rows))
        assert refused.value.code == "too_many_rows"


class TestConfirm:
    async def test_creates_the_ledger_once(self, apps):
        preview = await _preview(apps, xlsx(CLEAN_ROWS))
        assert preview.token is not None
        assert await _confirm(apps, preview.token) == ("county-2026", 3)
        with pytest.raises(HuodianError) as again:
            await _confirm(apps, preview.token)
        assert (again.value.status, again.value.code) == (409, "import_token_used")
        assert await _count(apps, Ledger) == 1

    async def test_bound_to_the_admin_who_previewed(self, apps):
        preview = await _preview(apps, xlsx(CLEAN_ROWS), admin="boss")
        assert preview.token is not None
        with pytest.raises(HuodianError) as refused:
            await _confirm(apps, preview.token, admin="other")
        assert (refused.value.status, refused.value.code) == (403, "import_token_not_yours")
        assert await _count(apps, Ledger) == 0

    async def test_expires(self, apps, frozen):
        preview = await _preview(apps, xlsx(CLEAN_ROWS))
        assert preview.token is not None
        frozen.shift(importing.GRANT_TTL + timedelta(seconds=1))
        with pytest.raises(HuodianError) as refused:
            await _confirm(apps, preview.token)
        assert (refused.value.status, refused.value.code) == (409, "import_token_expired")
        # The next preview clears grants nobody can use any more.
        await _preview(apps, xlsx([("甲",)]))
        assert await _count(apps, ImportGrant) == 0

    async def test_bound_to_the_file(self, apps):
        preview = await _preview(apps, xlsx(CLEAN_ROWS))
        assert preview.token is not None
        async with session_scope(apps.ledger.state.engine) as session:
            grant = (await session.exec(select(ImportGrant))).one()
            grant.content = xlsx([*CLEAN_ROWS, (9, None, "偷偷加上", "各供电企业", "持续推进")])
            session.add(grant)
        with pytest.raises(HuodianError) as refused:
            await _confirm(apps, preview.token)
        assert refused.value.code == "import_file_changed"
        assert await _count(apps, Ledger) == 0

    async def test_unknown_token(self, apps):
        with pytest.raises(HuodianError) as refused:
            await _confirm(apps, "no-such-token")
        assert (refused.value.status, refused.value.code) == (404, "import_token_not_found")


async def _api_preview(client, content: bytes, code: str = "county-2026"):
    return await client.post(
        "/ledgers/import/preview",
        data={"code": code, "name": "某县任务台账", "plan_end": "2026-12-31"},
        files={"file": ("台账.xlsx", content, "application/octet-stream")},
    )


class TestApi:
    async def test_export_round_trip_preview_then_confirm(self, admin, seeded):
        exported = await admin.get("/ledgers/dongying-2021/export.xlsx")
        assert exported.status_code == 200
        preview = await _api_preview(admin, exported.content, code="dongying-copy")
        assert preview.status_code == 200, preview.text
        body = preview.json()
        assert body["problem_count"] == 0
        assert len(body["rows"]) == 68
        assert (await admin.get("/ledgers/dongying-copy")).status_code == 404
        confirmed = await admin.post("/ledgers/import/confirm", json={"token": body["token"]})
        assert confirmed.status_code == 201, confirmed.text
        assert confirmed.json()["item_count"] == 68
        again = await admin.post("/ledgers/import/confirm", json={"token": body["token"]})
        assert again.status_code == 409
        assert again.json()["code"] == "import_token_used"
        assert "只能使用一次" in again.json()["detail"]

    async def test_problems_are_a_200_preview_without_token(self, admin):
        rows = [*CLEAN_ROWS, (4, None, "坏日期", "各供电企业", "明年")]
        response = await _api_preview(admin, xlsx(rows))
        assert response.status_code == 200
        body = response.json()
        assert body["token"] is None
        assert body["rows"][-1]["problems"][0]["code"] == "bad_due"

    async def test_hostile_file_is_a_problem_json(self, admin):
        response = await _api_preview(admin, b"not a workbook")
        assert response.status_code == 422
        assert response.json()["code"] == "not_xlsx"
        assert response.json()["detail"] == "该文件不是 .xlsx 工作簿"

    async def test_bad_code_is_a_422(self, admin):
        response = await _api_preview(admin, xlsx(CLEAN_ROWS), code="Bad Code!")
        assert response.status_code == 422

    async def test_another_admin_may_not_confirm(self, apps, admin):
        token = (await _api_preview(admin, xlsx(CLEAN_ROWS))).json()["token"]
        await add_user(apps, "boss", Role.admin)
        async with client_for(apps.ledger, await sign_in(apps, "boss")) as boss:
            refused = await boss.post("/ledgers/import/confirm", json={"token": token})
        assert refused.status_code == 403
        assert refused.json()["code"] == "import_token_not_yours"

    async def test_for_admins_only(self, viewer):
        response = await _api_preview(viewer, xlsx(CLEAN_ROWS))
        assert response.status_code == 403
        confirm = await viewer.post("/ledgers/import/confirm", json={"token": "x"})
        assert confirm.status_code == 403
        assert await _ledger_codes(viewer) == []


async def _ledger_codes(client) -> list[str]:
    return [lg["code"] for lg in (await client.get("/ledgers")).json()]
