"""The unit hierarchy (单位层级) shipped in shared/units.json, pinned against its sources."""

import ast
import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.portal.areas import load_service_areas
from services.ledger.ledgers.parsing import parse_responsibilities
from services.ledger.reference.seed import load_plan
from shared import units
from shared.units import UnitTree, load_units
from tests.shared import error_scan

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
TREE = load_units()


def _seed_text() -> str:
    if not SEEDS.is_dir():
        pytest.skip(f"the seed plans are not at {SEEDS}")
    texts = [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    return re.sub(r"\s", "", "".join(texts))


class TestShippedHierarchy:
    def test_groups_and_their_members(self):
        assert {u.name: u.members for u in TREE.units if u.members} == {
            "各供电企业": ("国网东营供电公司", "国网胜利供电公司", "各增量配电企业"),
            "国网东营供电公司": (
                "国网东营市河口区供电公司",
                "国网东营市垦利区供电公司",
                "国网利津县供电公司",
                "国网广饶县供电公司",
            ),
            "各电力主管部门": ("市发展改革委", "各县区发展改革局"),
            "各县区发展改革局": (
                "东营区发展改革局",
                "河口区发展改革局",
                "垦利区发展改革局",
                "利津县发展改革局",
                "广饶县发展改革局",
            ),
            "其他相关政府部门": (
                "东营市公安局",
                "东营市财政局",
                "东营市自然资源和规划局",
                "东营市住房和城乡建设管理局",
                "东营市交通运输局",
                "东营市行政审批服务局",
            ),
            "各县区政府": (
                "东营市东营区人民政府",
                "东营市河口区人民政府",
                "东营市垦利区人民政府",
                "利津县人民政府",
                "广饶县人民政府",
            ),
            "吉林省地方电力有限公司靖宇分公司": (
                "营销部",
                "供电生产部",
                "建设部",
                "资产管理部",
                "技术部",
                "天正工程有限分公司",
                "供电分公司",
            ),
        }
        assert len(TREE.units) == 37

    def test_full_names_are_aliases(self):
        assert units.canonical("国网山东省电力公司东营供电公司") == "国网东营供电公司"
        assert units.canonical("国网胜利（东营）供电有限公司") == "国网胜利供电公司"
        assert units.canonical("东营市发展和改革委员会") == "市发展改革委"
        assert units.canonical("各市电力主管部门") == "各电力主管部门"
        assert units.canonical("火星供电局") is None

    def test_every_unit_cites_its_source(self):
        seeds = _seed_text()
        areas = load_service_areas().areas
        for unit in TREE.units:
            if any(n in seeds for n in (unit.name, *unit.aliases)):
                continue
            # Not in the plans: made from the service areas, whose file the source cites.
            assert "service_areas.json" in unit.source, unit.name
            if unit.members:
                continue
            (area,) = [a for a in areas if a.region_code in unit.source]
            county = area.region.removeprefix("东营市")
            assert county.removesuffix("区").removesuffix("县") in unit.name, unit.name

    def test_every_responsible_unit_of_the_ledgers_is_listed(self):
        for plan in ("dongying-2021.json", "jingyu-2022.json"):
            for item in load_plan(plan).items:
                for r in parse_responsibilities(item.responsible_text):
                    assert TREE.entry(r.unit) is not None, (plan, item.seq, r.unit)

    def test_portal_areas_map_to_real_units(self):
        for area in load_service_areas().areas:
            assert TREE.entry(area.unit) is not None, area.region_code
        dongying = load_service_areas().of_region("370502")
        assert dongying is not None
        assert units.covers(["各供电企业"], dongying.unit)
        jingyu = load_service_areas().of_region("220622")
        assert jingyu is not None
        assert units.covers(["吉林省地方电力有限公司靖宇分公司"], jingyu.unit)


class TestCovers:
    def test_a_group_covers_its_members_and_theirs(self):
        assert units.covers(["各供电企业"], "国网东营供电公司")
        assert units.covers(["各供电企业"], "国网广饶县供电公司")
        assert units.covers(["国网东营供电公司"], "国网广饶县供电公司")
        assert units.covers(["国网东营供电公司"], "国网东营供电公司")

    def test_a_member_does_not_cover_its_group_or_siblings(self):
        assert not units.covers(["国网东营供电公司"], "各供电企业")
        assert not units.covers(["国网东营供电公司"], "国网胜利供电公司")
        assert not units.covers(["国网广饶县供电公司"], "国网利津县供电公司")
        assert not units.covers(["国网广饶县供电公司"], "国网东营供电公司")
        assert not units.covers(["营销部"], "供电分公司")

    def test_an_unlisted_unit_covers_itself_only(self):
        assert units.covers(["某供电所"], "某供电所")
        assert not units.covers(["某供电所"], "国网东营供电公司")
        assert not units.covers([], "国网东营供电公司")
        assert not units.covers(["各供电企业"], None)

    def test_covered_lists_every_unit_below(self):
        assert units.covered(["国网东营供电公司", "某供电所"]) == tuple(
            sorted(
                {
                    "国网东营供电公司",
                    "国网东营市河口区供电公司",
                    "国网东营市垦利区供电公司",
                    "国网利津县供电公司",
                    "国网广饶县供电公司",
                    "某供电所",
                }
            )
        )
        assert units.covered([]) == ()


class TestMessagesGoUp:
    def test_lineage_is_the_unit_then_its_ancestors_nearest_first(self):
        assert units.lineage("国网广饶县供电公司") == (
            "国网广饶县供电公司",
            "国网东营供电公司",
            "各供电企业",
        )
        assert units.lineage("东营区发展改革局") == (
            "东营区发展改革局",
            "各县区发展改革局",
            "各电力主管部门",
        )
        assert units.lineage("各供电企业") == ("各供电企业",)
        assert units.lineage("某供电所") == ("某供电所",)

    def test_nearest_with_someone_to_tell(self):
        both = {"国网东营供电公司": ["city"], "各供电企业": ["group"]}
        assert units.nearest("国网广饶县供电公司", both) == "国网东营供电公司"
        assert units.nearest("国网广饶县供电公司", {"各供电企业": ["group"]}) == "各供电企业"
        assert units.nearest("国网广饶县供电公司", {"国网广饶县供电公司": ["own"], **both}) == (
            "国网广饶县供电公司"
        )
        # Never down or sideways: a member's or a sibling's head is nobody to tell.
        siblings = {"国网利津县供电公司": ["lijin"], "国网广饶县供电公司": ["gr"]}
        assert units.nearest("国网东营供电公司", siblings) is None
        assert units.nearest("国网广饶县供电公司", {"各供电企业": []}) is None
        assert units.nearest("某供电所", both) is None


def _tree(*rows: dict[str, object]) -> UnitTree:
    return UnitTree.model_validate(
        {"note": "", "units": [{"kind": "group", "source": "测试", **r} for r in rows]}
    )


class TestHierarchyFile:
    def test_a_member_must_be_listed(self):
        with pytest.raises(ValidationError, match="not a unit"):
            _tree({"name": "甲", "members": ["乙"]})

    def test_a_unit_has_one_parent(self):
        with pytest.raises(ValidationError, match="member of both"):
            _tree(
                {"name": "甲", "members": ["丙"]}, {"name": "乙", "members": ["丙"]}, {"name": "丙"}
            )

    def test_no_unit_is_its_own_ancestor(self):
        with pytest.raises(ValidationError, match="own ancestor"):
            _tree({"name": "甲", "members": ["乙"]}, {"name": "乙", "members": ["甲"]})

    def test_a_name_is_listed_once(self):
        with pytest.raises(ValidationError, match="listed twice"):
            _tree({"name": "甲", "aliases": ["乙"]}, {"name": "乙"})


class TestOneUnitCheck:
    """``403 not_your_unit`` is decided in one place, :func:`shared.units.require_covers`, so
    every service follows the hierarchy the same way (a route that tests ``unit in
    principal.units`` itself refused group clerks their members' pause evidence)."""

    def test_not_your_unit_is_raised_only_by_require_covers(self):
        result = error_scan.scan()
        sites = [(s.module, s.function) for s in result.sites if s.code == "not_your_unit"]
        assert sites == [("shared.units", "require_covers")]
        assert [c.name for c in result.classes.values() if c.code == "not_your_unit"] == [
            "NotYourUnit"
        ]

    def test_each_detail_given_to_it_is_catalogued(self):
        patterns = json.loads(
            (error_scan.ROOT / "shared" / "error_codes.json").read_text(encoding="utf-8")
        )["not_your_unit"]["patterns"]
        details = []
        for path in error_scan._files():
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute | ast.Name)
                    and getattr(node.func, "attr", getattr(node.func, "id", None))
                    == "require_covers"
                    and len(node.args) == 3
                ):
                    details.append(error_scan.pattern_of(node.args[2]))
        assert len(details) >= 5
        assert [d for d in details if d not in patterns] == []
        assert "you do not act for {}" in patterns  # require_covers's own default


class TestRequireCovers:
    def test_a_group_covers_its_members_and_nothing_above_or_beside(self):
        units.require_covers(["各供电企业"], "国网广饶县供电公司")
        for holders, unit in (
            (["国网东营供电公司"], "各供电企业"),
            (["国网东营供电公司"], "国网胜利供电公司"),
            (["国网东营供电公司"], None),
        ):
            with pytest.raises(units.NotYourUnit, match="you do not act for"):
                units.require_covers(holders, unit)
