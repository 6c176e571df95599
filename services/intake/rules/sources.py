"""Where each rule is written, per jurisdiction (规则出处).

A rule shared by the data files (documents, fees, 三零) carries ``sources``: for each entered
jurisdiction either its own plan's words and section (``local_rule``), or a plain statement that
the plan has no such rule and what applies instead. :meth:`Sourced.source_for` gives the text an
answer shows for one jurisdiction; a jurisdiction not entered is told so. There is no
combined source listing every plan together: a view spanning jurisdictions (e.g. the whitelist
report) cites each jurisdiction's own, and the loaders refuse a leftover ``source`` beside
``sources`` (``extra="forbid"``).
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["PLANS", "UNLISTED_SOURCE", "LocalSource", "Sourced"]

PLANS: Final[dict[str, str]] = {
    "dongying": (
        "《东营市全面提升“获得电力”服务水平持续优化用电营商环境三年行动计划（2020—2022年）》"
        "（东发改能源〔2021〕122号）"
    ),
    "jingyu": "《吉林省地方电力有限公司全面提升“获得电力”服务水平优化用电营商环境三年行动方案》",
}
"""The plan of each entered jurisdiction."""

UNLISTED_SOURCE: Final = "该地区的行动方案未录入，没有本规则的出处；按国家和本省现行规定执行。"


class LocalSource(BaseModel):
    """One jurisdiction's source for a rule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    local_rule: bool
    """Whether the jurisdiction's own plan has this rule."""
    section: str
    """The plan's section (e.g. "三、（二）8"); may be empty only when there is no local rule."""
    text: str
    """The plan's own words (local rule), or the plain statement that it has none and what
    applies instead."""

    @model_validator(mode="after")
    def _complete(self) -> LocalSource:
        if not self.text.strip():
            raise ValueError("a source needs its text")
        if self.local_rule and not self.section.strip():
            raise ValueError("a local rule needs its section")
        if not self.local_rule and "没有" not in self.text:
            raise ValueError("a jurisdiction without its own rule must say so plainly (没有…)")
        return self


class Sourced(BaseModel):
    """A rule with a source for every entered jurisdiction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: dict[str, LocalSource]

    @model_validator(mode="after")
    def _every_jurisdiction(self) -> Sourced:
        if set(self.sources) != set(PLANS):
            raise ValueError(f"sources needed for exactly {sorted(PLANS)}")
        return self

    def local_source(self, jurisdiction: str) -> LocalSource | None:
        return self.sources.get(jurisdiction)

    def has_local_rule(self, jurisdiction: str) -> bool:
        local = self.sources.get(jurisdiction)
        return local is not None and local.local_rule

    def rule_for(self, jurisdiction: str, rule: str) -> str:
        """``rule`` where ``jurisdiction`` has it; otherwise the plain statement that it has
        not (never another jurisdiction's words)."""
        return rule if self.has_local_rule(jurisdiction) else self.source_for(jurisdiction)

    def source_for(self, jurisdiction: str) -> str:
        """The source an answer shows for ``jurisdiction``: its plan and section, or the plain
        statement that it has no rule of its own (with the section it points to, if any)."""
        local = self.sources.get(jurisdiction)
        if local is None:
            return UNLISTED_SOURCE
        cited = f"{PLANS[jurisdiction]}{local.section}" if local.section else ""
        if local.local_rule:
            return cited
        return f"{local.text}（{cited}）" if cited else local.text
