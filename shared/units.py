"""Units (单位): the organisations users act for, and the groups they form.

A ledger names groups as its responsible units (各供电企业, 各电力主管部门); the portal assigns an
application to a company (国网东营供电公司). Both are nodes of one hierarchy, read from
``units.json`` beside this module: a group and its members, a company and its branches or
departments. Whoever acts for a unit acts for everything below it, never for what is above it or
beside it::

    >>> covers(["各供电企业"], "国网东营供电公司")
    True
    >>> covers(["国网东营供电公司"], "国网广饶县供电公司")
    True
    >>> covers(["国网东营供电公司"], "各供电企业"), covers(["国网东营供电公司"], "国网胜利供电公司")
    (False, False)

A name the file does not list (a unit a ledger import created) stands for itself alone. Every
"is this your unit" check in the three services goes through :func:`require_covers` (one record,
refused with ``403 not_your_unit``; :func:`covers` when the answer is not a refusal) or
:func:`covered` (the names to put in a SQL ``IN``), so the rule has one home.

Messages go the other way: a reminder for a unit with nobody to tell goes up to its nearest
ancestor that has someone (:func:`lineage` lists where to look, :func:`nearest` picks)::

    >>> lineage("国网广饶县供电公司")
    ('国网广饶县供电公司', '国网东营供电公司', '各供电企业')
    >>> nearest("国网广饶县供电公司", {"各供电企业": ["head@example.cn"]})
    '各供电企业'

Only messages go up: acting for a unit (posting on its items) still never reaches above it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.errors import Forbidden

_DATA_FILE = Path(__file__).with_name("units.json")


class UnitKind(StrEnum):
    group = "group"  # 分组：如“各供电企业”，其成员是真实单位
    company = "company"  # 公司
    branch = "branch"  # 下属公司、分公司
    department = "department"  # 部门
    authority = "authority"  # 政府部门


class UnitEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: UnitKind
    members: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = Field(min_length=1, description="出处：种子文件或服务区域表中的原文位置")


class UnitTree(BaseModel):
    """The hierarchy: each unit has at most one parent, and no unit is its own ancestor."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    note: str
    units: tuple[UnitEntry, ...]

    @model_validator(mode="after")
    def _a_tree(self) -> UnitTree:
        names = [u.name for u in self.units]
        spoken = names + [a for u in self.units for a in u.aliases]
        if len(spoken) != len(set(spoken)):
            raise ValueError("a unit name or alias is listed twice")
        parents: dict[str, str] = {}
        for unit in self.units:
            for member in unit.members:
                if member not in names:
                    raise ValueError(f"{unit.name} lists {member}, which is not a unit")
                if parents.setdefault(member, unit.name) != unit.name:
                    raise ValueError(
                        f"{member} is a member of both {parents[member]} and {unit.name}"
                    )
        for start in names:
            seen = {start}
            ancestor = parents.get(start)
            while ancestor is not None:
                if ancestor in seen:
                    raise ValueError(f"{ancestor} is its own ancestor")
                seen.add(ancestor)
                ancestor = parents.get(ancestor)
        return self

    def entry(self, name: str) -> UnitEntry | None:
        return _index(self).get(name)

    def canonical(self, name: str) -> str | None:
        """The unit's name for ``name`` or one of its aliases; ``None`` for a name not listed."""
        entry = _index(self).get(name) or _aliases(self).get(name)
        return entry.name if entry else None

    def below(self, name: str) -> frozenset[str]:
        """``name`` and every unit under it (members, their members, …)."""
        found: set[str] = set()
        pending = [name]
        while pending:
            current = pending.pop()
            if current not in found:
                found.add(current)
                entry = _index(self).get(current)
                pending.extend(entry.members if entry else ())
        return frozenset(found)

    def parent(self, name: str) -> str | None:
        return _parents(self).get(name)

    def ancestors(self, name: str) -> tuple[str, ...]:
        """The units above ``name``, nearest first (none for a top unit or an unlisted name)."""
        found: list[str] = []
        current = _parents(self).get(name)
        while current is not None:
            found.append(current)
            current = _parents(self).get(current)
        return tuple(found)


@cache
def _index(tree: UnitTree) -> dict[str, UnitEntry]:
    return {u.name: u for u in tree.units}


@cache
def _aliases(tree: UnitTree) -> dict[str, UnitEntry]:
    return {a: u for u in tree.units for a in u.aliases}


@cache
def _parents(tree: UnitTree) -> dict[str, str]:
    return {member: u.name for u in tree.units for member in u.members}


@cache
def load_units(path: Path | None = None) -> UnitTree:
    return UnitTree.model_validate_json((path or _DATA_FILE).read_bytes())


@cache
def _below(name: str) -> frozenset[str]:
    return load_units().below(name)


def covered(holders: Iterable[str]) -> tuple[str, ...]:
    """Every unit those acting for ``holders`` act for, sorted (for a SQL ``IN``)."""
    found: set[str] = set()
    for holder in holders:
        found |= _below(holder)
    return tuple(sorted(found))


def covers(holders: Iterable[str], unit: str | None) -> bool:
    """Whether someone acting for ``holders`` acts for ``unit``: it or an ancestor is held."""
    return unit is not None and any(unit in _below(h) for h in holders)


class NotYourUnit(Forbidden):
    """The caller does not act for the unit a record belongs to: refused, not hidden (a 404
    would protect nothing: application, project and outage numbers are public)."""

    code = "not_your_unit"


def require_covers(holders: Iterable[str], unit: str | None, detail: str | None = None) -> None:
    """Refuse (``403 not_your_unit``) someone acting for ``holders`` a record of ``unit`` unless
    they act for it (:func:`covers`); ``detail`` says which record, in English."""
    if not covers(holders, unit):
        raise NotYourUnit(detail or f"you do not act for {unit}")


def canonical(name: str) -> str | None:
    """The listed name of a unit given by name or alias; ``None`` if the file does not list it."""
    return load_units().canonical(name)


@cache
def lineage(name: str) -> tuple[str, ...]:
    """``name`` and the units above it, nearest first: where a message for ``name`` may go."""
    return (name, *load_units().ancestors(name))


def nearest(unit: str, reached: Mapping[str, Sequence[object]]) -> str | None:
    """The first of ``unit`` and its ancestors with someone in ``reached`` (unit → people to
    tell); ``None`` when none of them has anyone (a dead letter)."""
    return next((u for u in lineage(unit) if reached.get(u)), None)
