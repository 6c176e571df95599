"""The vocabulary every service shares (共用词表): codes that are stored and sent, labels looked up.

Services store and exchange codes (``central``); the Chinese label (``中心区``) is looked up
where a person reads it — a notice, a report, a ``*_label`` field. One class per concept, here
and nowhere else.

- :class:`AreaClass` — 供电区域分类 (中心区 / 市区 / 城镇 / 农村), which sets the reliability
  targets and, in intake, whether a site counts as urban for the 三零 service.
- :class:`CustomerType` — 用户类型 (居民用户, 10千伏单电源用户 …), which sets intake's stages and
  time limits and which notify's notices name.
- :func:`parse_mobile` — the one rule for mainland mobile numbers (手机号码).

>>> AreaClass.central.label
'中心区'
>>> AreaClass.from_text("农村")
<AreaClass.rural: 'rural'>
>>> parse_mobile("+86 138-0013-8000")
'13800138000'
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import computed_field
from pydantic_core import PydanticCustomError
from sqlmodel import SQLModel

from shared.errors import FieldError

__all__ = [
    "AreaClass",
    "AreaClassed",
    "CustomerType",
    "CustomerTyped",
    "VocabError",
    "mobile_field",
    "parse_mobile",
]


class VocabError(ValueError):
    """A value is not in the vocabulary; ``code`` is stable for machines, ``message`` (Chinese)
    is for people. Being a ``ValueError``, pydantic validators turn it into a 422 field error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def field_error(self, field: str) -> FieldError:
        return FieldError(field=field, code=self.code, message=self.message)


class AreaClass(StrEnum):
    """供电区域分类: the supply-area class of a customer, stored and sent as its code."""

    central = "central"
    urban = "urban"
    town = "town"
    rural = "rural"

    @property
    def label(self) -> str:
        """The Chinese name people read (中心区 / 市区 / 城镇 / 农村)."""
        return _AREA_CLASS_LABELS[self]

    @classmethod
    def from_text(cls, text: str) -> AreaClass:
        """The class a person wrote, as its code or its Chinese label (e.g. a spreadsheet cell)."""
        value = text.strip()
        if value in cls.__members__:
            return cls(value)
        for member, label in _AREA_CLASS_LABELS.items():
            if value == label:
                return member
        raise VocabError("invalid_area_class", "供电区域类别应为中心区、市区、城镇或农村")


_AREA_CLASS_LABELS = {
    AreaClass.central: "中心区",
    AreaClass.urban: "市区",
    AreaClass.town: "城镇",
    AreaClass.rural: "农村",
}


class AreaClassed(SQLModel):
    """An API shape carrying an area class: the code, and beside it the label people read."""

    area_class: AreaClass

    @computed_field  # type: ignore[prop-decorator]
    @property
    def area_class_label(self) -> str:
        """供电区域类别 in Chinese (中心区 …)."""
        return self.area_class.label


class CustomerType(StrEnum):
    """用户类型, as in Annex 1 of the Dongying plan (low voltage is 380 V and below)."""

    residential = "residential"
    low_voltage_three_zero = "low_voltage_three_zero"
    low_voltage = "low_voltage"
    hv10_single = "hv10_single"
    hv10_dual = "hv10_dual"
    hv35_single = "hv35_single"
    hv35_dual = "hv35_dual"

    @property
    def label(self) -> str:
        """The Chinese name people read (居民用户 …)."""
        return _CUSTOMER_TYPE_LABELS[self]


_CUSTOMER_TYPE_LABELS = {
    CustomerType.residential: "居民用户",
    CustomerType.low_voltage_three_zero: "实行“三零”服务的低压非居民用户",
    CustomerType.low_voltage: "未实行“三零”服务的低压非居民用户",
    CustomerType.hv10_single: "10千伏单电源用户",
    CustomerType.hv10_dual: "10千伏双电源用户",
    CustomerType.hv35_single: "35千伏及以上单电源用户",
    CustomerType.hv35_dual: "35千伏及以上双电源用户",
}


class CustomerTyped(SQLModel):
    """An API shape or event carrying a customer type: the code, and the label beside it."""

    customer_type: CustomerType

    @computed_field  # type: ignore[prop-decorator]
    @property
    def customer_type_label(self) -> str:
        """用户类型 in Chinese (居民用户 …)."""
        return self.customer_type.label


# -- mobile numbers (手机号码) --

_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_MOBILE_SEPARATORS = re.compile(r"[\s\-]")


def parse_mobile(value: str) -> str:
    """A mainland mobile number as its 11 digits; ``+86``/``0086``/``86``, spaces and hyphens
    around the digit groups are accepted ("+86 138-0013-8000" → "13800138000").

    Always the bare 11 digits, so one number is stored, compared and sent in one form (a
    ``+86`` kept in one row and not in another would make two subscribers of one phone).
    """
    raw = _MOBILE_SEPARATORS.sub("", value)
    if not raw:
        raise VocabError("required", "请填写手机号码")
    for prefix in ("+86", "0086"):
        if raw.startswith(prefix):
            raw = raw[len(prefix) :]
            break
    else:
        if len(raw) == 13 and raw.startswith("86"):
            raw = raw[2:]
    if not _MOBILE.fullmatch(raw):
        raise VocabError("invalid_mobile", "手机号码应为以13-19开头的11位数字")
    return raw


def mobile_field(value: str) -> str:
    """:func:`parse_mobile` as a pydantic validator (``AfterValidator(mobile_field)``): a refusal
    is a field error with the same code and Chinese message as everywhere else."""
    try:
        return parse_mobile(value)
    except VocabError as exc:
        raise PydanticCustomError(exc.code, exc.message) from exc
