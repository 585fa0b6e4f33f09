"""JSON encoding and decoding for the hot paths, with orjson where it gives the same answer.

Ingestion hashes every event's canonical JSON, parses every request body and (through the engine)
encodes and decodes every JSON column; the standard library spends ~60 us on a typical event
where orjson spends ~5. orjson differs from the standard library in two places, handled here:

* integers beyond 64 bits: orjson parses them as floats (precision lost) and cannot encode them,
  so text with a run of 19 or more digits is parsed by the standard library instead, and such
  values are encoded by it too;
* NaN and Infinity, which are not JSON: orjson refuses to parse them; Python's ``json`` accepts
  them unless told otherwise (:func:`loads_document` tells it).

Request bodies (hundreds of KB for a batch) are parsed by the standard library: there orjson
saves little, and the scan for long integers would cost more than it saves.

Canonical JSON (sorted keys, no spaces, UTF-8) matches ``json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` byte for byte except for floats with a negative
exponent, which orjson writes without a leading zero (``1.5e-7``, not ``1.5e-07``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import numpy as np
import orjson

__all__ = ["JSONDecodeError", "canonical", "dumps", "dumps_response", "iso", "loads",
           "loads_document", "too_deep"]

JSONDecodeError = json.JSONDecodeError  # orjson's error is a subclass
_LONG_NUMBER = re.compile(rb"\d{19,}")
_LONG_NUMBER_TEXT = re.compile(r"\d{19,}")


def loads(data: bytes | str):
    """Parse JSON text; exact for integers of any size."""
    pattern = _LONG_NUMBER if isinstance(data, bytes) else _LONG_NUMBER_TEXT
    if pattern.search(data):
        return json.loads(data)
    return orjson.loads(data)


def iso(t: datetime | None) -> str | None:
    """A time as JSON shows it: ISO-8601 UTC with a Z, or None."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


# Deepest nesting of arrays and objects a request body may have. Spark's plan facets nest deeply,
# but far less; past about 250 the encoders (orjson stops at 255) and recursive checks would fail.
MAX_DEPTH = 200
_BRACKETS_AND_QUOTES = bytes(range(256)).translate(None, b'[]{}"\\')
_STEP = np.zeros(256, dtype=np.int32)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


def too_deep(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the arrays and objects of a JSON text nest deeper than ``limit`` (brackets inside
    strings ignored).

    Done at C speed (translate, regex, numpy) so that a 16 MB batch costs milliseconds: the
    stdlib parser itself would hit Python's recursion limit (a 500) on a deep enough body.
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False  # too few brackets to nest that deep
    kept = data.translate(None, _BRACKETS_AND_QUOTES)
    # Escapes first (an escaped backslash, then an escaped quote), then whole strings.
    kept = kept.replace(b"\\\\", b"").replace(b'\\"', b"").replace(b"\\", b"")
    kept = without_strings(kept)
    return bool(kept) and int(np.cumsum(_STEP[np.frombuffer(kept, dtype=np.uint8)]).max()) > limit


def without_strings(kept: bytes) -> bytes:
    """``kept`` (brackets and unescaped quotes) less every pair of quotes and what they enclose;
    an unpaired last quote stays, with what follows it. Splitting on quotes does it at C speed
    (a regular expression took 5 ms of a 650 KB batch's 7)."""
    parts = kept.split(b'"')
    outside = b"".join(parts[::2])  # even pieces lie between strings
    return outside if len(parts) % 2 else outside + b'"' + parts[-1]


def loads_document(data: bytes | str):
    """Parse a request body: exact for integers of any size; NaN and Infinity are refused."""
    return json.loads(data, parse_constant=_refuse_constant)


def dumps(value) -> str:
    """Compact JSON text (what the engine stores in JSON columns)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits, or a type orjson does not know
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def canonical(value) -> bytes:
    """Canonical UTF-8 JSON: sorted keys, no whitespace (equal values give equal bytes)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()


def dumps_response(value, default) -> str:
    """JSON text of an API response, keys in insertion order.

    ``default`` serialises what orjson does not know (Decimal, objects with ``__html__``) and
    datetimes, which stay in Flask's format; integers beyond 64 bits go to the standard library.
    """
    try:
        return orjson.dumps(value, default=default, option=orjson.OPT_NON_STR_KEYS
                            | orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:
        return json.dumps(value, default=default, ensure_ascii=False, separators=(",", ":"))
