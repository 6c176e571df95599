"""The service areas (供电服务区域) that assign pushed projects and portal applications to units."""

import json
from datetime import date

import pytest
from pydantic import ValidationError

from services.intake.policies.service import reference_versions
from services.intake.portal.areas import ServiceAreas, load_service_areas
from services.intake.rules.identity import parse_resident_id, resident_id_check_character
from shared import units


class TestShippedAreas:
    def test_dongyings_districts_and_jingyu_county(self):
        areas = load_service_areas()
        assert {a.region_code: (a.jurisdiction, a.unit) for a in areas.areas} == {
            "370502": ("dongying", "国网东营供电公司"),
            "370503": ("dongying", "国网东营市河口区供电公司"),
            "370505": ("dongying", "国网东营市垦利区供电公司"),
            "370522": ("dongying", "国网利津县供电公司"),
            "370523": ("dongying", "国网广饶县供电公司"),
            "220622": ("jingyu", "供电分公司"),
        }
        assert areas.of_region("110101") is None
        assert areas.jurisdiction_of_unit("供电分公司") == "jingyu"
        assert areas.jurisdiction_of_unit("国网广饶县供电公司") == "dongying"

    def test_each_county_goes_to_its_own_company_under_the_city_company(self):
        # 东营区 is the city company's own; each other county has its county company, a member
        # of 国网东营供电公司 in the hierarchy, so the city company and 各供电企业 still cover it.
        for area in load_service_areas().areas:
            if area.jurisdiction != "dongying":
                continue
            county = area.region.removeprefix("东营市")
            if county == "东营区":
                assert area.unit == "国网东营供电公司"
            else:
                assert county.removesuffix("区").removesuffix("县") in area.unit, area.region
                assert units.load_units().parent(area.unit) == "国网东营供电公司"
            assert units.covers(["各供电企业"], area.unit)

    def test_every_mapping_cites_its_source(self):
        for area in load_service_areas().areas:
            assert area.unit in area.source, area.region_code

    def test_every_jurisdiction_has_time_limits(self):
        policies = {v.jurisdiction for v in reference_versions()}
        assert {a.jurisdiction for a in load_service_areas().areas} <= policies

    def test_region_codes_are_real_provinces(self):
        # A resident ID with the region's code passes the GB 11643 region check.
        for area in load_service_areas().areas:
            first17 = f"{area.region_code}19800101123"
            parse_resident_id(
                first17 + resident_id_check_character(first17), today=date(2026, 1, 1)
            )


class TestAreasFile:
    def test_a_region_listed_twice_is_refused(self):
        row = {
            "region_code": "370502",
            "region": "东营区",
            "jurisdiction": "dongying",
            "unit": "甲",
            "source": "测试",
        }
        with pytest.raises(ValidationError, match="listed twice"):
            ServiceAreas.model_validate({"note": "", "areas": [row, row]})

    def test_a_unit_in_two_jurisdictions_is_refused(self):
        rows = [
            {"region_code": "370502", "region": "东营区", "jurisdiction": "dongying"},
            {"region_code": "220622", "region": "靖宇县", "jurisdiction": "jingyu"},
        ]
        rows = [{**r, "unit": "甲", "source": "测试"} for r in rows]
        with pytest.raises(ValidationError, match="two jurisdictions"):
            ServiceAreas.model_validate({"note": "", "areas": rows})

    def test_a_mapping_without_its_source_is_refused(self):
        row = {"region_code": "370502", "region": "东营区", "jurisdiction": "dongying"}
        row["unit"] = "甲"
        with pytest.raises(ValidationError, match="source"):
            ServiceAreas.model_validate({"note": "", "areas": [row]})

    def test_a_local_file_can_replace_the_shipped_one(self, tmp_path):
        path = tmp_path / "areas.json"
        row = {
            "region_code": "370502",
            "region": "东营区",
            "jurisdiction": "dongying",
            "unit": "乙",
            "source": "测试",
        }
        path.write_text(json.dumps({"note": "本地", "areas": [row]}), encoding="utf-8")
        assert load_service_areas(path).of_region("370502").unit == "乙"
