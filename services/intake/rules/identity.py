"""Identity numbers an application carries: validation, masking, and keeping them out of logs.

- Resident ID numbers (公民身份号码) per GB 11643-1999: 6-digit address code, 8-digit birth date,
  3-digit sequence (odd for men), and a check character per ISO 7064 MOD 11-2 (``X`` for 10).
  Residence permits of Hong Kong, Macao and Taiwan residents (港澳台居民居住证) use the same
  layout with the address codes 810000, 820000 and 830000.
- Unified social credit codes (统一社会信用代码) per GB 32100-2015: registration authority,
  entity type, 6-digit region code, 9-character organisation code (GB 11714), and a MOD 31 check
  character, all over the 31 characters ``0-9`` and ``A-Z`` without ``I O Z S V``.

Both check characters come from python-stdnum (``stdnum.cn.ric``, ``stdnum.cn.uscc``); the
layout checks, the Chinese messages and the masking stay ours.
- Mainland mobile numbers (手机号码): the one rule is :func:`shared.vocab.parse_mobile`.

``parse_*`` functions return a typed value or raise :class:`IdentityError` with a stable code;
``validate_*`` wrap them into :class:`shared.errors.Unprocessable` naming the field, and
:class:`FieldErrors` gathers several fields into one 422 answer. Error messages are Chinese,
because applicants read them.

ID numbers and mobiles are personal information (个人信息): :func:`mask_id_number` and
:func:`mask_mobile` give the forms shown to anyone but the applicant and authorised staff, and
:class:`SensitiveDataFilter` masks both wherever they appear in a log record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from stdnum.cn import ric, uscc

from shared.errors import FieldError, Unprocessable
from shared.masking import mask_middle
from shared.vocab import VocabError, parse_mobile

__all__ = [
    "CREDIT_CODE_ALPHABET",
    "CreditCode",
    "FieldErrors",
    "IdentityError",
    "ResidentId",
    "Sex",
    "credit_code_check_character",
    "mask_id_number",
    "mask_mobile",
    "parse_credit_code",
    "parse_resident_id",
    "resident_id_check_character",
    "validate_credit_code",
    "validate_mobile",
    "validate_resident_id",
]

_DATA_FILE = Path(__file__).with_name("identity.json")

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of GB 32100-2015, in value order (I, O, Z, S and V are not used)."""
_CREDIT_VALUES = frozenset(CREDIT_CODE_ALPHABET)

EARLIEST_BIRTH_DATE = date(1900, 1, 1)
"""Older birth dates are treated as typing errors: nobody born before 1900 applies for power."""


class IdentityError(VocabError):
    """An identifier is not valid; ``code`` is stable for machines, ``message`` is for people."""


class Sex(StrEnum):
    """From the sequence code's last digit: odd for men (男), even for women (女)."""

    male = "male"
    female = "female"


@dataclass(frozen=True)
class ResidentId:
    """A valid resident ID number (公民身份号码), upper-case ``X``."""

    number: str
    address_code: str
    region: str
    birth_date: date
    sequence: str
    sex: Sex
    residence_permit: bool
    """True for the residence permit of a Hong Kong, Macao or Taiwan resident (港澳台居民居住证)."""


@dataclass(frozen=True)
class CreditCode:
    """A valid unified social credit code (统一社会信用代码)."""

    code: str
    authority: str
    authority_name: str
    entity_type: str
    entity_type_name: str
    region_code: str
    organisation_code: str


@dataclass(frozen=True)
class _Authority:
    name: str
    types: dict[str, str]


@dataclass(frozen=True)
class _IdentityData:
    provinces: dict[str, str]
    permit_codes: dict[str, str]
    national_region_code: str
    authorities: dict[str, _Authority]


@cache
def _data() -> _IdentityData:
    raw: dict[str, Any] = json.loads(_DATA_FILE.read_text(encoding="utf-8"))
    credit = raw["credit_code"]
    return _IdentityData(
        provinces=dict(raw["regions"]["provinces"]),
        permit_codes=dict(raw["residence_permits"]["address_codes"]),
        national_region_code=credit["national_region_code"],
        authorities={
            key: _Authority(name=value["name"], types=dict(value["types"]))
            for key, value in credit["authorities"].items()
        },
    )


def _clean(value: str) -> str:
    return value.strip().upper()


# -- resident ID numbers (公民身份号码) --


def resident_id_check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the check character is computed over exactly 17 ASCII digits")
    # python-stdnum reads the first 17 characters of an 18-character number; the last is ignored.
    return ric.calc_check_digit(first17 + "0")


def parse_resident_id(value: str, *, today: date) -> ResidentId:
    """Validate a resident ID number; surrounding spaces and a lower-case ``x`` are accepted.

    ``today`` (a Beijing date) bounds the birth date: it cannot be in the future.
    """
    number = _clean(value)
    if not number:
        raise IdentityError("required", "请填写身份证号码")
    if len(number) == 15 and number.isascii() and number.isdigit():
        raise IdentityError(
            "legacy_15_digit", "15位旧版身份证号码已停止使用，请填写18位公民身份号码"
        )
    if len(number) != 18:
        raise IdentityError("invalid_length", f"身份证号码应为18位，当前为{len(number)}位")
    body, check = number[:17], number[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise IdentityError("invalid_characters", "身份证号码前17位应为数字，末位应为数字或X")

    data = _data()
    address = number[:6]
    if address in data.permit_codes:
        region, permit = data.permit_codes[address], True
    elif address[:2] in data.provinces:
        region, permit = data.provinces[address[:2]], False
    else:
        raise IdentityError(
            "unknown_region", f"身份证号码的地址码 {address} 不是有效的行政区划代码"
        )

    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentityError(
            "invalid_birth_date", f"身份证号码中的出生日期 {number[6:14]} 不是有效日期"
        ) from None
    if not EARLIEST_BIRTH_DATE <= birth <= today:
        raise IdentityError(
            "invalid_birth_date", f"身份证号码中的出生日期 {birth.isoformat()} 不在合理范围内"
        )

    expected = resident_id_check_character(body)
    if check != expected:
        raise IdentityError("bad_check_character", "身份证号码校验位错误，请核对后重新填写")
    sequence = number[14:17]
    return ResidentId(
        number=number,
        address_code=address,
        region=region,
        birth_date=birth,
        sequence=sequence,
        sex=Sex.male if int(sequence[-1]) % 2 else Sex.female,
        residence_permit=permit,
    )


# -- unified social credit codes (统一社会信用代码) --


def credit_code_check_character(first17: str) -> str:
    """The GB 32100-2015 check character: C18 = 31 − (Σ C_i·W_i mod 31), with 31 written as 0."""
    if len(first17) != 17 or any(c not in _CREDIT_VALUES for c in first17):
        raise ValueError("the check character is computed over 17 characters of the code alphabet")
    return uscc.calc_check_digit(first17)


def parse_credit_code(value: str) -> CreditCode:
    """Validate a unified social credit code; surrounding spaces and lower case are accepted."""
    code = _clean(value)
    if not code:
        raise IdentityError("required", "请填写统一社会信用代码")
    if len(code) != 18:
        raise IdentityError("invalid_length", f"统一社会信用代码应为18位，当前为{len(code)}位")
    bad = sorted({c for c in code if c not in _CREDIT_VALUES})
    if bad:
        raise IdentityError(
            "invalid_characters",
            f"统一社会信用代码含有不允许的字符：{'、'.join(bad)}"
            "（只用数字和大写字母，不用 I、O、Z、S、V）",
        )
    data = _data()
    authority = data.authorities.get(code[0])
    if authority is None:
        raise IdentityError(
            "unknown_registration_authority",
            f"统一社会信用代码第1位 {code[0]} 不是登记管理部门代码",
        )
    type_name = authority.types.get(code[1])
    if type_name is None:
        raise IdentityError(
            "unknown_entity_type",
            f"统一社会信用代码第2位 {code[1]} 不是{authority.name}登记的机构类别代码",
        )
    region = code[2:8]
    if not region.isdigit() or (
        region != data.national_region_code and region[:2] not in data.provinces
    ):
        raise IdentityError(
            "unknown_region", f"统一社会信用代码第3-8位 {region} 不是有效的行政区划代码"
        )
    if code[17] != credit_code_check_character(code[:17]):
        raise IdentityError("bad_check_character", "统一社会信用代码校验位错误，请核对后重新填写")
    return CreditCode(
        code=code,
        authority=code[0],
        authority_name=authority.name,
        entity_type=code[1],
        entity_type_name=type_name,
        region_code=region,
        organisation_code=code[8:17],
    )


# -- turning failures into field errors --

T = TypeVar("T")


class FieldErrors:
    """Collects the errors of several fields so one 422 answer names them all.

    >>> errors = FieldErrors()
    >>> person = errors.check("applicant.id_number", parse_resident_id, raw_id)
    >>> phone = errors.check("applicant.mobile", parse_mobile, raw_mobile)
    >>> errors.raise_if_any()      # Unprocessable listing every bad field, or nothing
    """

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, field: str, parse: Callable[[str], T], value: str) -> T | None:
        """``parse(value)``, or None with the error recorded under ``field``."""
        try:
            return parse(value)
        except VocabError as exc:
            self.errors.append(exc.field_error(field))
            return None

    def add(self, field: str, code: str, message: str) -> None:
        self.errors.append(FieldError(field=field, code=code, message=message))

    def raise_if_any(self) -> None:
        if self.errors:
            fields = ", ".join(dict.fromkeys(e.field for e in self.errors))
            raise Unprocessable(f"Invalid input: {fields}", errors=list(self.errors))


def _validate(field: str, parse: Callable[[str], T], value: str) -> T:
    errors = FieldErrors()
    parsed = errors.check(field, parse, value)
    errors.raise_if_any()
    assert parsed is not None
    return parsed


def validate_resident_id(value: str, *, today: date, field: str = "id_number") -> ResidentId:
    """:func:`parse_resident_id`, raising :class:`Unprocessable` that names ``field``."""
    return _validate(field, lambda v: parse_resident_id(v, today=today), value)


def validate_credit_code(value: str, *, field: str = "credit_code") -> CreditCode:
    """:func:`parse_credit_code`, raising :class:`Unprocessable` that names ``field``."""
    return _validate(field, parse_credit_code, value)


def validate_mobile(value: str, *, field: str = "mobile") -> str:
    """:func:`parse_mobile`, raising :class:`Unprocessable` that names ``field``."""
    return _validate(field, parse_mobile, value)


# -- masking (脱敏) --


def mask_id_number(value: str) -> str:
    """Keep the first 6 and last 4 characters: ``370502********1234``.

    Anything of 10 characters or fewer is masked whole, so a fragment never shows in full.
    """
    return mask_middle(_clean(value), 6, 4)


def mask_mobile(value: str) -> str:
    """Keep the first 3 and last 4 digits: ``138****5678`` (a ``+86`` prefix is dropped).

    A value that is not a mobile number is masked the same way as far as its length allows.
    """
    try:
        digits = parse_mobile(value)
    except VocabError:
        digits = value.strip()
    return mask_middle(digits, 3, 4)
