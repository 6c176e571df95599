"""Workbooks laid out like the plans' annexes: a title, widths, wrapping, frozen headers, A4."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from shared.downloads import add_sheet, new_workbook, workbook_bytes


def _sheet(**layout: object):  # type: ignore[no-untyped-def]
    workbook = new_workbook("台账")
    add_sheet(
        workbook,
        "任务台账",
        ("序号", "工作目标任务", "责任单位"),
        [
            (1, "推行“三零”服务，低压小微企业160千瓦及以下" * 4, "各供电企业"),
            (2, "short", "市发展改革委"),
        ],
        **layout,  # type: ignore[arg-type]
    )
    return load_workbook(io.BytesIO(workbook_bytes(workbook)))["任务台账"]


class TestLayout:
    def test_a_title_row_across_the_table(self) -> None:
        sheet = _sheet(heading="东营市任务台账")
        assert sheet["A1"].value == "东营市任务台账"
        assert sheet["A1"].font.bold
        assert "A1:C1" in {str(r) for r in sheet.merged_cells.ranges}
        assert [c.value for c in sheet[2]] == ["序号", "工作目标任务", "责任单位"]

    def test_the_header_is_frozen_and_printed_on_every_page(self) -> None:
        sheet = _sheet(heading="东营市任务台账")
        assert sheet.freeze_panes == "A3"
        assert sheet.print_title_rows == "$1:$2"
        without_title = _sheet()
        assert without_title.freeze_panes == "A2"
        assert without_title.print_title_rows == "$1:$1"

    def test_a4_landscape_one_page_wide(self) -> None:
        sheet = _sheet()
        assert sheet.page_setup.paperSize == 9  # A4
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage

    def test_columns_fit_their_text_and_long_text_wraps(self) -> None:
        sheet = _sheet()
        widths = {col: sheet.column_dimensions[col].width for col in "ABC"}
        assert widths["A"] == 6  # a number: the minimum
        assert widths["B"] == 50  # long Chinese text: capped, and it wraps
        assert widths["C"] == 2 * len("市发展改革委") + 2
        assert sheet["B2"].alignment.wrap_text
        assert sheet["B2"].alignment.vertical == "top"
        assert sheet["A1"].font.bold  # the header row

    def test_given_widths_are_kept(self) -> None:
        sheet = _sheet(widths=(8, 60, 20))
        assert [sheet.column_dimensions[c].width for c in "ABC"] == [8, 60, 20]


class TestManyRows:
    def test_every_row_wraps_keeps_its_format_and_formula_text_stays_text(self) -> None:
        # 3,000 rows: appending reads only the new row (it was O(n²)), and the wrap alignment
        # is set on every data cell, dated ones keeping their number format too.
        rows = [
            (i, f"={i}+1" if i % 1000 == 999 else "任务", date(2025, 6, 30)) for i in range(3000)
        ]
        workbook = new_workbook()
        add_sheet(workbook, "台账", ("序号", "任务", "完成时限"), rows)
        sheet = load_workbook(io.BytesIO(workbook_bytes(workbook)))["台账"]
        assert sheet.max_row == 3001
        assert [sheet.cell(r, 2).value for r in (1000, 1001, 3001)] == [
            "任务",
            "=999+1",
            "=2999+1",
        ]
        assert {sheet.cell(r, 2).data_type for r in (1001, 2001, 3001)} == {"s"}
        for r in (2, 1500, 3001):
            for c in (1, 2, 3):
                assert sheet.cell(r, c).alignment.wrap_text
                assert sheet.cell(r, c).alignment.vertical == "top"
        assert sheet.cell(3001, 3).number_format == "yyyy-mm-dd"
        assert sheet["A1"].alignment.vertical == "center"  # the header keeps its own


class TestWriteOnly:
    def test_openpyxl_still_has_the_row_hook_add_sheet_replaces(self) -> None:
        # add_sheet sets a sheet's _values_to_row to place its ready cells as they are; were
        # the hook renamed, the workbook would stay right but twice as slow to write.
        workbook = new_workbook()
        sheet = add_sheet(workbook, "台账", ("序号",), [(1,)])
        assert isinstance(sheet, WriteOnlyWorksheet)
        assert callable(WriteOnlyWorksheet.__dict__["_values_to_row"])
        assert "_values_to_row" in vars(sheet)  # set on the sheet, over the class's
        assert load_workbook(io.BytesIO(workbook_bytes(workbook)))["台账"]["A2"].value == 1

    def test_preamble_lines_sit_between_the_title_and_the_header(self) -> None:
        workbook = new_workbook()
        add_sheet(
            workbook,
            "台账",
            ("序号", "任务"),
            [(1, "任务")],
            heading="标题",
            preamble=[["说明\x07"], []],
        )
        sheet = load_workbook(io.BytesIO(workbook_bytes(workbook)))["台账"]
        assert [sheet.cell(r, 1).value for r in (1, 2, 3, 4, 5)] == [
            "标题",
            "说明\ufffd",
            None,
            "序号",
            1,
        ]
        assert sheet.freeze_panes == "A5"
        assert sheet.print_title_rows == "$1:$4"
        assert sheet["A4"].font.bold
        assert sheet["A5"].alignment.wrap_text
