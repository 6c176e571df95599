"""The time limits transcribed from the plans, pinned against the source documents."""

from datetime import date

from services.intake.policies.models import STAGE_LABELS, PolicyVersionPublic
from services.intake.policies.service import in_force, reference_versions
from shared.vocab import CustomerType


def version(code: str) -> PolicyVersionPublic:
    return next(v for v in reference_versions() if v.code == code)


def table(code: str) -> dict[str, tuple[list[tuple[str, int | None]], int, int | None]]:
    return {
        e.customer_type.label: (
            [(STAGE_LABELS[s.stage], s.limit_days) for s in e.stages],
            e.total_days,
            e.no_works_total_days,
        )
        for e in version(code).entries
    }


class TestDongyingAnnex1:
    def test_high_voltage_and_non_three_zero_rows(self):
        rows = table("dongying-2020")
        assert rows["未实行“三零”服务的低压非居民用户"] == (
            [("业务受理", 1), ("供电方案答复", 1), ("装表接电", 1)],
            3,
            1,
        )
        assert rows["10千伏单电源用户"] == (
            [("业务受理", 1), ("供电方案答复", 5), ("竣工检验", 1), ("装表接电", 1)],
            8,
            None,
        )
        assert rows["10千伏双电源用户"] == (
            [
                ("业务受理", 1),
                ("供电方案答复", 7),
                ("设计审查", 3),
                ("中间检查", 2),
                ("竣工检验", 1),
                ("装表接电", 1),
            ],
            15,
            None,
        )
        single_35 = rows["35千伏及以上单电源用户"]
        dual_35 = rows["35千伏及以上双电源用户"]
        assert [d for _, d in single_35[0]] == [1, 10, 3, 2, 3, 3]
        assert single_35[1] == 22
        assert [d for _, d in dual_35[0]] == [1, 20, 3, 2, 3, 3]
        assert dual_35[1] == 32

    def test_residential_and_three_zero_have_two_stages(self):
        rows = table("dongying-2020")
        assert rows["居民用户"] == ([("受理签约", 1), ("施工接电", 2)], 3, 1)
        assert rows["实行“三零”服务的低压非居民用户"] == ([("受理签约", 1), ("施工接电", 4)], 5, 1)

    def test_supervised_by_the_development_and_reform_commission(self):
        dongying = version("dongying-2020")
        assert dongying.supervising_unit == "市发展改革委"
        assert "附件1" in dongying.source
        assert dongying.effective_from == date(2020, 1, 1)


class TestJingyuTargets:
    def test_totals_only(self):
        for code in ("jingyu-2020", "jingyu-2021", "jingyu-2022"):
            assert all(s.limit_days is None for e in version(code).entries for s in e.stages)

    def test_item_8_stages(self):
        # 大中型企业: 现场勘察 merged into 供电方案答复, 竣工验收 into 装表接电, 设计审查 and
        # 中间检查 cancelled — 4; 小微企业: no 设计审查, 中间检查, 竣工验收 — 3; 零投资 — 2
        hv = ["业务受理", "供电方案答复", "外部工程实施", "竣工验收及装表接电"]
        for code in ("jingyu-2020", "jingyu-2021", "jingyu-2022"):
            rows = {k: [name for name, _ in v[0]] for k, v in table(code).items()}
            assert rows == {
                "居民用户": ["受理签约", "施工接电"],
                "实行“三零”服务的低压非居民用户": ["受理签约", "施工接电"],
                "未实行“三零”服务的低压非居民用户": ["业务受理", "供电方案答复", "装表接电"],
                "10千伏单电源用户": hv,
                "10千伏双电源用户": hv,
                "35千伏及以上单电源用户": hv,
                "35千伏及以上双电源用户": hv,
            }, code
            note = version(code).note
            assert "第8项" in note
            assert all(name in note for name in hv)
            assert "现场勘察" in note
            assert "设计审查、中间检查取消" in note

    def test_three_zero_target_falls_25_20_15(self):
        totals = {
            code: {e.customer_type: e.total_days for e in version(code).entries}
            for code in ("jingyu-2020", "jingyu-2021", "jingyu-2022")
        }
        assert [t[CustomerType.low_voltage_three_zero] for t in totals.values()] == [25, 20, 15]
        for t in totals.values():
            assert t[CustomerType.residential] == 5
            assert t[CustomerType.low_voltage] == 6
            assert t[CustomerType.hv10_single] == t[CustomerType.hv35_single] == 22
            assert t[CustomerType.hv10_dual] == t[CustomerType.hv35_dual] == 32

    def test_version_in_force_by_acceptance_date(self):
        jingyu = [v for v in reference_versions() if v.jurisdiction == "jingyu"]
        assert in_force(jingyu, date(2019, 12, 31)) is None
        assert in_force(jingyu, date(2020, 12, 31)).code == "jingyu-2020"  # type: ignore[union-attr]
        assert in_force(jingyu, date(2021, 1, 1)).code == "jingyu-2021"  # type: ignore[union-attr]
        assert in_force(jingyu, date(2025, 9, 30)).code == "jingyu-2022"  # type: ignore[union-attr]


def test_every_reference_version_covers_every_customer_type():
    for v in reference_versions():
        assert sorted(e.customer_type for e in v.entries) == sorted(CustomerType)


def test_notes_are_chinese():
    # a note is read by people (政策说明): Chinese, with the facts the plan gives
    for v in reference_versions():
        assert v.note
        latin = sum(c.isascii() and c.isalpha() for c in v.note)
        assert latin < len(v.note) // 10, v.code
    notes = " ".join(v.note for v in reference_versions())
    assert "当日申请，次日接电" in notes
    assert "高压双电源32个工作日" in notes
