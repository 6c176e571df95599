"""Masking personal data (个人信息脱敏): resident ID numbers and mobile numbers in any text,
and one logging filter that every service puts on its log handlers, so that neither is ever
written to a log in full (日志脱敏)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

__all__ = [
    "SensitiveDataFilter",
    "install_log_masking",
    "mask_middle",
    "mask_sensitive",
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


def _mask_mobile_match(match: re.Match[str]) -> str:
    digits = _SEPARATORS.sub("", match["number"])
    return (match["prefix"] or "") + mask_middle(digits, 3, 4)


def mask_sensitive(text: str) -> str:
    """Mask every resident ID number (18 or legacy 15 digits) and mobile number in ``text``.

    ID numbers are recognised by their layout (a plausible birth date in the right place), not by
    their check character, so mistyped numbers are masked too.
    """
    text = _ID_IN_TEXT.sub(lambda m: mask_middle(m.group(), 6, 4), text)
    return _MOBILE_IN_TEXT.sub(_mask_mobile_match, text)


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
