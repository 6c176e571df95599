import csv
import io

from openpyxl import Workbook, load_workbook

from services.ledger.ledgers.spreadsheet import ANNEX2_COLUMNS

COUNTY_ROWS = [
    ("序号", "分类", "工作目标任务", "责任单位", "完成时间"),
    (
        1,
        "工作目标",
        "全县低压小微企业用电报装“三零”服务。",
        "县发展改革局牵头，县供电公司按职责分工负责",
        "2023年6月底前",
    ),
    (2, None, "压减高压用户办电时间。", "县供电公司", "持续推进"),
    ("序号", "分类", "工作目标任务", "责任单位", "完成时间"),  # repeated on every printed page
    (3, "保障措施", "建立工作进展情况报送制度。", "县发展改革局", "2023年3月15日前"),
]


def xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["某县全面提升“获得电力”服务水平工作任务台账"])
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def import_xlsx(client, content: bytes, code="county-2023", filename="台账.xlsx"):
    return await client.post(
        "/ledgers/import",
        data={"code": code, "name": "某县任务台账", "plan_end": "2023-12-31"},
        files={"file": (filename, content, "application/octet-stream")},
    )


class TestImport:
    async def test_county_ledger_in_annex_layout(self, admin, seeded):
        response = await import_xlsx(admin, xlsx(COUNTY_ROWS))
        assert response.status_code == 201, response.text
        assert response.json()["item_count"] == 3
        items = (await admin.get("/items", params={"ledger": "county-2023"})).json()["items"]
        assert [(i["seq"], i["category"], i["due_date"]) for i in items] == [
            (1, "工作目标", "2023-06-30"),
            (2, "工作目标", None),
            (3, "保障措施", "2023-03-15"),
        ]
        assert [(u["name"], u["role"]) for u in items[0]["units"]] == [
            ("县发展改革局", "lead"),
            ("县供电公司", "supporting"),
        ]

    async def test_row_errors_are_all_reported_and_nothing_is_imported(self, admin, seeded):
        rows = [
            *COUNTY_ROWS,
            ("x", None, "序号不是数字", "县供电公司", "2023年底前"),
            (3, None, "序号重复", "县供电公司", "2023年底前"),
            (5, None, "", "县供电公司", "下个月"),
            (6, None, "没有责任单位", "", "2023年底前"),
        ]
        response = await import_xlsx(admin, xlsx(rows))
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "invalid_rows"
        assert [(e["field"], e["code"]) for e in body["errors"]] == [
            ("row 7: 序号", "bad_seq"),
            ("row 8: 序号", "duplicate_seq"),
            ("row 9: 工作目标任务", "task_required"),
            ("row 9: 完成时间", "bad_due"),
            ("row 10: 责任单位", "units_required"),
        ]
        assert (await admin.get("/ledgers/county-2023")).status_code == 404
        units = {u["name"] for u in (await admin.get("/units")).json()}
        assert "县供电公司" not in units

    async def test_not_a_workbook(self, admin, seeded):
        response = await import_xlsx(admin, b"PK\x03\x04 not really a zip")
        assert response.status_code == 422
        assert response.json()["code"] == "not_xlsx"

    async def test_sheet_without_header(self, admin, seeded):
        response = await import_xlsx(admin, xlsx([(1, "a", "b", "c", "持续推进")]))
        assert response.json()["code"] == "header_not_found"

    async def test_duplicate_code_is_409(self, admin, seeded):
        response = await import_xlsx(admin, xlsx(COUNTY_ROWS), code="dongying-2021")
        assert response.status_code == 409
        assert response.json()["code"] == "ledger_exists"

    async def test_bad_code_names_the_field(self, admin, seeded):
        response = await import_xlsx(admin, xlsx(COUNTY_ROWS), code="Bad Code!")
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "code"

    async def test_only_admin_imports(self, power_head):
        response = await import_xlsx(power_head, xlsx(COUNTY_ROWS))
        assert response.status_code == 403


class TestExportRoundTrip:
    async def test_xlsx_export_reimports_to_the_same_items(self, admin, power_head, seeded):
        original = (
            await admin.get("/items", params={"ledger": "dongying-2021", "limit": 500})
        ).json()
        first = original["items"][6]
        await power_head.post(
            f"/items/{first['id']}/updates",
            data={"status": "done", "progress": "100", "narrative": "已推广"},
        )
        exported = await admin.get("/ledgers/dongying-2021/export.xlsx")
        assert exported.status_code == 200
        assert "dongying-2021.xlsx" in exported.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(exported.content)).active
        assert sheet["A1"].value == "东营市全面提升“获得电力”服务水平工作任务台账"
        header = [c.value for c in sheet[2]]
        assert header[:5] == list(ANNEX2_COLUMNS)
        assert header[5:] == [
            "状态",
            "进度(%)",
            "最新进展",
            "最近更新(北京时间)",
            "是否逾期",
            "逾期天数",
        ]
        row_7 = [c.value for c in sheet[9]]
        assert (row_7[0], row_7[5], row_7[6], row_7[7]) == (7, "已完成", 100, "已推广")
        assert row_7[9] == "否"

        response = await import_xlsx(admin, exported.content, code="dongying-copy")
        assert response.status_code == 201, response.text
        copy = (await admin.get("/items", params={"ledger": "dongying-copy", "limit": 500})).json()
        fields = ("seq", "category", "task", "responsible_text", "due_text", "due_kind", "due_date")
        assert [{f: i[f] for f in fields} for i in copy["items"]] == [
            {f: i[f] for f in fields} for i in original["items"]
        ]
        assert [[(u["name"], u["role"]) for u in i["units"]] for i in copy["items"]] == [
            [(u["name"], u["role"]) for u in i["units"]] for i in original["items"]
        ]

    async def test_csv_export_has_bom_and_reimports(self, admin, seeded):
        exported = await admin.get("/ledgers/jingyu-2022/export.csv")
        assert exported.status_code == 200
        assert exported.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows[0][:5] == list(ANNEX2_COLUMNS)
        assert len(rows) == 18
        response = await admin.post(
            "/ledgers/import",
            data={"code": "jingyu-copy", "name": "靖宇复制"},
            files={"file": ("jingyu.csv", exported.content, "text/csv")},
        )
        assert response.status_code == 201, response.text
        assert response.json()["item_count"] == 17

    async def test_unknown_format_is_422(self, admin, seeded):
        response = await admin.get("/ledgers/dongying-2021/export.pdf")
        assert response.status_code == 422
