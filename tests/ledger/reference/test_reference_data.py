"""The plans shipped as data, pinned against the source documents."""

from collections import Counter
from datetime import date

import pytest

from services.ledger.ledgers.parsing import (
    DueKind,
    ResponsibilityRole,
    parse_due,
    parse_responsibilities,
)
from services.ledger.reference.seed import load_plan

DONGYING = load_plan("dongying-2021.json")
JINGYU = load_plan("jingyu-2022.json")


class TestDongying:
    def test_has_68_items_in_order(self):
        assert [i.seq for i in DONGYING.items] == list(range(1, 69))

    def test_count_per_category(self):
        assert Counter(i.category for i in DONGYING.items) == {
            "工作目标": 11,
            "压缩办电时间": 10,
            "提高办电便利度": 13,
            "降低办电成本": 9,
            "提升供电能力和供电可靠性": 9,
            "加大信息公开力度": 8,
            "保障措施": 8,
        }

    def test_item_1_field_by_field(self):
        item = DONGYING.items[0]
        assert item.category == "工作目标"
        assert item.task == (
            "全市范围内实现低压居民和低压小微企业用户用电报装“三零”、高压用户用电报装“三省”服务。"
            "“获得电力”指标达到国内同类城市先进水平。"
        )
        assert item.responsible_text == "各电力主管部门、各供电企业按职责分工负责"
        assert item.due_text == "2022 年底前"
        assert parse_due(item.due_text).on == date(2022, 12, 31)

    def test_item_5_keeps_its_text_without_qian(self):
        item = DONGYING.items[4]
        assert item.due_text == "2021 年 6 月底"
        assert parse_due(item.due_text).on == date(2021, 6, 30)
        assert [(r.unit, r.role) for r in parse_responsibilities(item.responsible_text)] == [
            ("各电力主管部门", ResponsibilityRole.lead),
            ("其他相关政府部门", ResponsibilityRole.supporting),
        ]

    def test_item_29_lead_and_supporting(self):
        item = DONGYING.items[28]
        assert item.category == "提高办电便利度"
        assert item.task.startswith("推动政企协同办电信息共享平台建设。")
        assert item.task.endswith("实现居民用户、企业用户“零证办电”。")
        assert item.responsible_text == "市发展改革委牵头,各供电企业按职责分工负责"
        assert item.due_text == "已实现,持续巩固提升。"
        assert parse_due(item.due_text).kind is DueKind.achieved_consolidating
        assert [(r.unit, r.role) for r in parse_responsibilities(item.responsible_text)] == [
            ("市发展改革委", ResponsibilityRole.lead),
            ("各供电企业", ResponsibilityRole.supporting),
        ]

    def test_item_62_exact_day(self):
        item = DONGYING.items[61]
        assert item.category == "保障措施"
        assert item.task.endswith(
            "（即对照1479号文，对现有用电报装制度进行立改废清理，全面规范有关制度）"
        )
        assert item.responsible_text == "各供电企业"
        assert item.due_text == "2021年6月15日前"
        assert parse_due(item.due_text).on == date(2021, 6, 15)

    def test_item_68(self):
        item = DONGYING.items[67]
        assert item.responsible_text == "市发展改革委"
        assert item.due_text == "持续推进"
        assert item.task.startswith("总结行之有效的")

    def test_every_due_parses_to_the_expected_kinds(self):
        kinds = Counter(parse_due(i.due_text).kind for i in DONGYING.items)
        assert kinds == {DueKind.ongoing: 24, DueKind.achieved_consolidating: 22, DueKind.date: 22}
        dates = Counter(parse_due(i.due_text).on for i in DONGYING.items)
        assert dates[date(2021, 6, 30)] == 12
        assert dates[date(2021, 12, 31)] == 4
        assert dates[date(2022, 12, 31)] == 2
        assert dates[date(2021, 3, 31)] == dates[date(2021, 4, 30)] == dates[date(2021, 5, 31)] == 1

    def test_units_named_in_the_ledger(self):
        units = {r.unit for i in DONGYING.items for r in parse_responsibilities(i.responsible_text)}
        assert units == {"各电力主管部门", "各供电企业", "其他相关政府部门", "市发展改革委"}


class TestJingyu:
    def test_has_17_tasks_in_five_groups(self):
        assert [i.seq for i in JINGYU.items] == list(range(1, 18))
        assert Counter(i.category for i in JINGYU.items) == {
            "创新服务模式，让办电更省时": 6,
            "注重用户体验，让服务更便捷": 3,
            "优化投资模式，让办电更省钱": 3,
            "推动信息公开，让服务更透明": 2,
            "强化电网建设运维，让用电更可靠": 3,
        }

    @pytest.mark.parametrize(
        ("seq", "units", "due"),
        [
            (1, ["供电生产部", "建设部"], date(2022, 12, 31)),
            (5, ["营销部", "供电分公司"], date(2022, 12, 31)),
            (7, ["营销部", "供电分公司"], date(2021, 12, 31)),
            (9, ["营销部", "供电分公司"], date(2021, 12, 31)),
            (10, ["供电生产部", "建设部", "供电分公司"], date(2022, 12, 31)),
            (12, ["天正工程有限分公司"], date(2022, 12, 31)),
        ],
    )
    def test_units_and_due(self, seq, units, due):
        item = JINGYU.items[seq - 1]
        assert [r.unit for r in parse_responsibilities(item.responsible_text)] == units
        assert parse_due(item.due_text).on == due

    def test_task_text_is_whole(self):
        item = JINGYU.items[11]
        assert item.task.startswith("严格落实规范收费项目。")
        assert "移表费、计量装置赔偿费、高压电缆介损试验费" in item.task
        assert item.task.endswith("带电作业费等类似名目费用。")
        assert "责任部门" not in item.task
