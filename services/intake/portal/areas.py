"""Service areas (供电服务区域): which unit accepts, and which jurisdiction's time limits apply, for
a county-level administrative region (县级行政区划).

The approval platform's project code (项目代码) carries the region of the project, and a portal
application names the region of its site; this table turns either into the unit whose clerks
see it and the jurisdiction whose policy judges it. It is data (``service_areas.json``, or the
file named by ``HUODIAN_INTAKE_SERVICE_AREAS_FILE``), not code.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

_DATA_FILE = Path(__file__).with_name("service_areas.json")


class ServiceArea(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="县级行政区划代码")
    region: str = Field(min_length=1)
    jurisdiction: str = Field(min_length=2, max_length=40)
    unit: str = Field(min_length=1, max_length=100)
    source: str = Field(min_length=1, description="出处：为何由该单位受理（种子文件或单位层级表）")


class ServiceAreas(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    note: str
    areas: tuple[ServiceArea, ...]

    @model_validator(mode="after")
    def _one_row_per_region(self) -> ServiceAreas:
        codes = [a.region_code for a in self.areas]
        if len(codes) != len(set(codes)):
            raise ValueError("a region is listed twice")
        units: dict[str, str] = {}
        for area in self.areas:
            if units.setdefault(area.unit, area.jurisdiction) != area.jurisdiction:
                raise ValueError(f"unit {area.unit} is in two jurisdictions")
        return self

    def of_region(self, region_code: str) -> ServiceArea | None:
        return next((a for a in self.areas if a.region_code == region_code), None)

    def jurisdiction_of_unit(self, unit: str) -> str | None:
        return next((a.jurisdiction for a in self.areas if a.unit == unit), None)


@cache
def load_service_areas(path: Path | None = None) -> ServiceAreas:
    return ServiceAreas.model_validate_json((path or _DATA_FILE).read_bytes())
