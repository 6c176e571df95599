"""Vocabulary shared by several rule modules."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

from services.intake.policies.models import LOW_VOLTAGE_TYPES
from shared.vocab import CustomerType

__all__ = ["VoltageClass", "normalise_name", "voltage_of"]


class VoltageClass(StrEnum):
    """低压 (380 V and below) or 高压 (10 (6) kV and above), as in Annex 1 of the Dongying plan."""

    low = "low"
    high = "high"


def voltage_of(customer_type: CustomerType) -> VoltageClass:
    """The supply voltage class of a customer type (用户类型)."""
    return VoltageClass.low if customer_type in LOW_VOLTAGE_TYPES else VoltageClass.high


_PUNCTUATION = re.compile(r"[\s\-_·•、，,。.;；:：/\\()（）\[\]【】《》<>〈〉“”\"'‘’「」『』]+")


def normalise_name(name: str) -> str:
    """A name reduced for comparison: NFKC (full-width → half-width), lower case, no spaces or
    punctuation. "《申请用电 承诺书》" and "申请用电承诺书" compare equal."""
    return _PUNCTUATION.sub("", unicodedata.normalize("NFKC", name)).lower()
