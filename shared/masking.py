"""Masking personal data (个人信息脱敏): resident ID numbers, mobile and landline numbers and an
applicant's query code (查询码) in any text; free text in responses for the roles that may not
see them (:data:`FreeText`, :func:`masked_unless`); and one logging filter that every service
puts on its log handlers, so that none is ever written to a log in full (日志脱敏)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Final, TypeVar

from pydantic import BaseModel

__all__ = [
    "FREE_TEXT",
    "FreeText",
    "SensitiveDataFilter",
    "install_log_masking",
    "mask_middle",
    "mask_sensitive",
    "masked_unless",
]

_SEPARATORS = re.compile(r"[\s\-]")


def mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    """``text`` with all but its first ``keep_start`` and last ``keep_end`` characters as ``*``
    (wholly masked when it is not longer than those)."""
    if len(text) <= keep_start + keep_end:
        return "*" * len(text)
    return text[:keep_start] + "*" * (len(text) - keep_start - keep_end) + text[-keep_end:]


# Digits may be full-width in pasted text, hence \d (Unicode digits) rather than [0-9].
_ID_IN_TEXT = re.compile(
    r"(?<![\dA-Za-z])\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXxＸｘ]"
    r"(?![\dA-Za-z])"
    r"|(?<![\dA-Za-z])\d{8}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![\dA-Za-z])"
)
_MOBILE_IN_TEXT = re.compile(
    r"(?<![\dA-Za-z+])(?P<prefix>(?:\+|00)?86[\s\-]?)?(?P<number>1[3-9]\d(?:[\s\-]?\d{4}){2})"
    r"(?![\dA-Za-z])"
)


# A landline (固定电话): an area code 0xx or 0xxx, then 7 or 8 digits, written 0546-8123456,
# 0546 8123456, (0546)8123456, （0546）8123456 or run together (05468123456).
_LANDLINE_IN_TEXT = re.compile(
    r"(?<![\dA-Za-z])(?P<area>[(（]0\d{2,3}[)）][\s\-]?|0\d{2,3}[\s\-]"
    # Run together, the area code is told by its first digits: 010 and 02x have three digits
    # and 8-digit numbers, the others four.
    r"|0(?:10|2\d)(?=\d{8}(?!\d))|0[3-9]\d{2}(?=\d{7,8}(?!\d)))"
    r"(?P<local>\d{3,4}[\s\-]?\d{4})(?![\dA-Za-z])"
)


# A query code (查询码) where a text names it, as the applicant's receipt does: 8 characters of
# intake's alphabet after the label. Whoever holds it opens the application's progress.
_QUERY_CODE_IN_TEXT = re.compile(r"(?P<label>查询码[:：]?\s*)[2-9A-HJKMNP-Z]{8}(?![0-9A-Za-z])")


def _mask_mobile_match(match: re.Match[str]) -> str:
    digits = _SEPARATORS.sub("", match["number"])
    return (match["prefix"] or "") + mask_middle(digits, 3, 4)


def _mask_landline_match(match: re.Match[str]) -> str:
    return match["area"] + mask_middle(_SEPARATORS.sub("", match["local"]), 0, 4)


def mask_sensitive(text: str) -> str:
    """Mask every resident ID number (18 or legacy 15 digits), mobile and landline number and
    named query code in ``text``: ``370502********1234``, ``139****1234``, ``0546-****3456``,
    ``查询码********``.

    ID numbers are recognised by their layout (a plausible birth date in the right place), not by
    their check character, so mistyped numbers are masked too.
    """
    text = _ID_IN_TEXT.sub(lambda m: mask_middle(m.group(), 6, 4), text)
    text = _MOBILE_IN_TEXT.sub(_mask_mobile_match, text)
    text = _QUERY_CODE_IN_TEXT.sub(lambda m: m["label"] + "*" * 8, text)
    return _LANDLINE_IN_TEXT.sub(_mask_landline_match, text)


class _FreeTextMarker:
    def __repr__(self) -> str:
        return "FREE_TEXT"


FREE_TEXT: Final = _FreeTextMarker()
"""Marks a response field as free text that staff or applicants typed (备注、原因、意见):
``note: Annotated[str, FREE_TEXT]``. On a dict or list field every string inside is free text
(a stage-log event's payload)."""

FreeText = Annotated[str, FREE_TEXT]
"""A free-text response field (see :data:`FREE_TEXT`)."""

M = TypeVar("M")


def masked_unless(value: M, unmasked: bool) -> M:
    """``value`` as a role that may not see personal data gets it: every :data:`FREE_TEXT`
    field of it, of the models nested in it and of lists of them, with :func:`mask_sensitive`
    applied; ``value`` itself when ``unmasked``. The one place where free text is masked for a
    role: call it where a response is shaped for the caller (JSON, a workbook, a page)."""
    return value if unmasked else _masked(value, free=False)


_CONTAINERS = (BaseModel, list, tuple, dict)


@cache
def _fields(model: type[BaseModel]) -> tuple[tuple[str, bool], ...]:
    """Each field of ``model`` and whether it is free text, read once per model (walking
    ``model_fields`` and each field's metadata was a fifth of a page of escalations)."""
    return tuple((name, FREE_TEXT in field.metadata) for name, field in model.model_fields.items())


def _masked(value: Any, *, free: bool) -> Any:
    if isinstance(value, str):
        return mask_sensitive(value) if free else value
    if isinstance(value, BaseModel):
        updates = {}
        for name, free_field in _fields(type(value)):
            current = getattr(value, name)
            if free or free_field:
                masked = _masked(current, free=True)
            elif isinstance(current, _CONTAINERS):
                masked = _masked(current, free=False)
            else:
                continue  # a number, a date, a name: nothing typed in it to mask
            if masked is not current:
                updates[name] = masked
        return value.model_copy(update=updates) if updates else value
    if isinstance(value, list | tuple):
        items = [_masked(v, free=free) for v in value]
        changed = any(a is not b for a, b in zip(items, value, strict=True))
        return type(value)(items) if changed else value
    if isinstance(value, dict):
        entries = {k: _masked(v, free=free) for k, v in value.items()}
        return entries if any(entries[k] is not value[k] for k in value) else value
    return value


def _mask_argument(value: object) -> object:
    if isinstance(value, str):
        return mask_sensitive(value)
    if value is None or isinstance(value, int | float):
        return value  # kept for %d and %f; the rendered message is checked afterwards
    text = str(value)
    masked = mask_sensitive(text)
    return masked if masked != text else value


class SensitiveDataFilter(logging.Filter):
    """A logging filter that masks ID numbers and mobiles in the message, arguments, exception
    and stack text of every record, so they are never written to a log (日志脱敏).

    Arguments are masked in place, so formatters that read ``record.args`` themselves (uvicorn's
    access log) keep working; if the rendered message still shows a number (an int argument, or
    digits joined by the format), the record is collapsed to its masked text.

    Attach it to *handlers* (``handler.addFilter``): a filter on a logger does not see records
    propagated from its children. :func:`install_log_masking` does that for a logger's handlers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_sensitive(record.msg)
        else:
            record.msg = _mask_argument(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_mask_argument(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _mask_argument(v) for k, v in record.args.items()}
        try:
            message, broken = record.getMessage(), False
        except (TypeError, ValueError, KeyError):
            # A malformed format string: keep what there is, masked, rather than lose the record.
            message, broken = f"{record.msg} {record.args!r}", True
        masked = mask_sensitive(message)
        if broken or masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_sensitive(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_sensitive(record.stack_info)
        return True


def install_log_masking(logger: logging.Logger | None = None) -> SensitiveDataFilter:
    """Add one :class:`SensitiveDataFilter` to every handler of ``logger`` (default: root, and
    then also :data:`logging.lastResort`) that has none yet; returns the filter. Call it after
    logging is configured."""
    target = logger or logging.getLogger()
    masking = SensitiveDataFilter()
    handlers = list(target.handlers)
    if target is logging.getLogger() and logging.lastResort is not None:
        # uvicorn configures handlers for its own loggers only: the services' own warnings and
        # errors (``services.*``, ``shared.*``) reach a root without handlers and are written by
        # logging's last resort, which must mask them too.
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, SensitiveDataFilter) for f in handler.filters):
            handler.addFilter(masking)
    return masking
