"""Compact JSON (紧凑 JSON): the one spelling of bodies that are signed, hashed or chained.

No spaces after ``,`` and ``:``, and Chinese written as itself rather than ``\\uXXXX``, so the bytes
are short and a human reading a log line sees ``中心区``. With ``sort_keys=True`` the text is
canonical: equal values give equal bytes, which is what a hash chain or a signature needs.

>>> compact_json({"b": 1, "a": "中心区"}, sort_keys=True)
'{"a":"中心区","b":1}'
>>> compact_json_bytes([1, {"x": None}])
b'[1,{"x":null}]'
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["compact_json", "compact_json_bytes"]


def compact_json(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as compact JSON text (keys sorted when ``sort_keys``)."""
    return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"))


def compact_json_bytes(value: Any, *, sort_keys: bool = False) -> bytes:
    """:func:`compact_json` encoded as UTF-8, the form that is signed or hashed."""
    return compact_json(value, sort_keys=sort_keys).encode()
