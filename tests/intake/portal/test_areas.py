"""The service areas (供电服务区域) that assign pushed projects and portal applications to units."""

import json
from datetime import date

import pytest
from pydantic import ValidationError

from services.intake.policies.service import reference_versions
from services.intake.portal.areas import ServiceAreas, load_service_areas
from services.intake.rules.identity import parse_resident_id, resident_id_check_character


class TestShippedAreas:
    def test_dongyings_districts_and_jingyu_county(self):
        areas = load_service_areas()
        assert {a.region_code: (a.jurisdiction, a.unit) for a in areas.areas} == {
            "370502": ("dongying", "国网东营供电公司"),
            "370503": ("dongying", "国网东营供电公司"),
            "370505": ("dongying", "国网东营供电公司"),
            "370522": ("dongying", "国网东营供电公司"),
            "370523": ("dongying", "国网东营供电公司"),
            "220622": ("jingyu", "供电分公司"),
        }
        assert areas.of_region("110101") is None
        assert areas.jurisdiction_of_unit("供电分公司") == "jingyu"

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
        }
        with pytest.raises(ValidationError, match="listed twice"):
            ServiceAreas.model_validate({"note": "", "areas": [row, row]})

    def test_a_unit_in_two_jurisdictions_is_refused(self):
        rows = [
            {"region_code": "370502", "region": "东营区", "jurisdiction": "dongying", "unit": "甲"},
            {"region_code": "220622", "region": "靖宇县", "jurisdiction": "jingyu", "unit": "甲"},
        ]
        with pytest.raises(ValidationError, match="two jurisdictions"):
            ServiceAreas.model_validate({"note": "", "areas": rows})

    def test_a_local_file_can_replace_the_shipped_one(self, tmp_path):
        path = tmp_path / "areas.json"
        row = {
            "region_code": "370502",
            "region": "东营区",
            "jurisdiction": "dongying",
            "unit": "乙",
        }
        path.write_text(json.dumps({"note": "本地", "areas": [row]}), encoding="utf-8")
        assert load_service_areas(path).of_region("370502").unit == "乙"
