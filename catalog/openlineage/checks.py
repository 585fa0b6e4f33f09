"""The checks behind event validation: the ``format`` rules this project enforces where it relies
on a value (``uuid``, ``date-time``), and a compiler of the schema into fast boolean closures.

Used by :mod:`catalog.openlineage.validate`; imports nothing of the catalog.
"""

from __future__ import annotations

import numbers
import re
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import orjson
from jsonschema import FormatChecker

_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


# --------------------------------------------------------------------------- format checks


def is_uuid(value: object) -> bool:
    """Accept only the canonical hyphenated UUID form (any case)."""
    if not isinstance(value, str):
        return True
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value.lower()


def is_date_time(value: object) -> bool:
    """Accept what ``datetime.fromisoformat`` parses once a trailing ``Z`` is replaced.

    A time of day is required: a date alone is not a date-time.
    """
    if not isinstance(value, str):
        return True
    if not _DATE_AND_TIME.match(value):
        return False  # a date alone, or a compact or week-based ISO form
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("uuid")(is_uuid)
    checker.checks("date-time")(is_date_time)
    return checker


# --------------------------------------------------------------------------- fast checks
#
# jsonschema spends most of its time creating a validator per subschema visited (~8 us
# each), which makes a RunEvent with a few facets cost 1-2 ms. Valid events are the common
# case, so the schema is also compiled into plain closures that only answer "valid or not";
# jsonschema runs only when they say "not valid", to report the offending field. The
# compiler refuses any keyword it does not implement, so it cannot silently accept what
# jsonschema would reject.

Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"$comment", "$id", "$schema", "description", "title", "examples"})
_FORMATS: dict[str, Check] = {"uuid": is_uuid, "date-time": is_date_time}
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, numbers.Number) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


MEMO_ENTRIES = 4096  # verdicts one memo keeps (then it starts afresh)
MEMO_KEY_BYTES = 65536  # larger values are checked every time


def remembered(check: Check) -> Check:
    """``check``, answering again from memory for a value with the same JSON text.

    The checks are pure functions of the JSON value, and orjson's text tells apart every two
    values that a check could (1 and 1.0 and true, 0.0 and -0.0, key order aside).
    """
    memo: dict[bytes, bool] = {}

    def check_remembered(value: Any) -> bool:
        try:
            key = orjson.dumps(value)
        except TypeError:  # an integer beyond 64 bits: not worth remembering
            return check(value)
        verdict = memo.get(key)
        if verdict is None:
            verdict = check(value)
            if len(key) <= MEMO_KEY_BYTES:
                if len(memo) >= MEMO_ENTRIES:
                    memo.clear()
                memo[key] = verdict
        return verdict

    return check_remembered


def _always(_value: Any) -> bool:
    return True


def _all_of(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for one in checks:
            if not one(value):
                return False
        return True

    return check


class FastCompiler:
    """Compile the subset of JSON Schema used by our schema into boolean closures.

    The definitions named in ``memo`` remember their verdicts by the value's JSON text: a
    pipeline sends the same facets (a dataset's schema above all) run after run, and their
    checks are most of an event's (61 -> 16 us for the benchmark's events).
    """

    def __init__(self, defs: dict[str, Any], memo: Collection[str] = ()) -> None:
        self.table: dict[str, Check] = {}
        self.table.update({name: self.compile(sub) for name, sub in defs.items()})
        for name in memo:
            self.table[name] = remembered(self.table[name])

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return lambda _value: False
        checks: list[Check] = []
        for key, arg in schema.items():
            if key in _ANNOTATIONS or key in ("then", "else", "additionalProperties"):
                continue  # then/else go with "if", additionalProperties with "properties"
            if key == "$ref":
                checks.append(self._ref(arg))
            elif key == "type":
                tests = [_TYPES[name] for name in (arg if isinstance(arg, list) else [arg])]
                if len(tests) == 1:
                    checks.append(tests[0])
                else:
                    checks.append(lambda v, tests=tests: any(t(v) for t in tests))
            elif key == "properties":
                checks.append(self._properties(arg, schema.get("additionalProperties", True)))
            elif key == "required":
                names = frozenset(arg)
                checks.append(lambda v, names=names: not isinstance(v, dict) or names <= v.keys())
            elif key == "items":
                item = self.compile(arg)
                checks.append(lambda v, item=item: not isinstance(v, list) or all(map(item, v)))
            elif key == "enum" and all(isinstance(option, str) for option in arg):
                options = frozenset(arg)
                checks.append(lambda v, options=options: isinstance(v, str) and v in options)
            elif key == "const" and isinstance(arg, bool | str):
                checks.append(lambda v, arg=arg: type(v) is type(arg) and v == arg)
            elif key == "format":
                if arg in _FORMATS:  # other formats are annotations, as in jsonschema
                    checks.append(_FORMATS[arg])
            elif key == "allOf":
                checks.append(_all_of([self.compile(sub) for sub in arg]))
            elif key == "anyOf":
                subs = [self.compile(sub) for sub in arg]
                checks.append(lambda v, subs=subs: any(sub(v) for sub in subs))
            elif key == "if":
                checks.append(self._if(arg, schema.get("then", True), schema.get("else", True)))
            else:
                raise ValueError(f"fast checker does not implement {key}={arg!r}")
        if "additionalProperties" in schema and "properties" not in schema:
            checks.append(self._properties({}, schema["additionalProperties"]))
        return _all_of(checks)

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"fast checker only resolves local $defs references, not {ref}")
        name, table = ref.removeprefix("#/$defs/"), self.table
        return lambda v: table[name](v)

    def _properties(self, properties: dict[str, Any], additional: Any) -> Check:
        known = {name: self.compile(sub) for name, sub in properties.items()}
        other = self.compile(additional)
        if other is _always:

            def check(value: Any) -> bool:
                if not isinstance(value, dict):
                    return True
                for name, sub in known.items():
                    if name in value and not sub(value[name]):
                        return False
                return True

        else:

            def check(value: Any) -> bool:
                if not isinstance(value, dict):
                    return True
                for name, item in value.items():
                    sub = known.get(name, other)
                    if not sub(item):
                        return False
                return True

        return check

    def _if(self, condition: Any, then: Any, otherwise: Any) -> Check:
        test, yes, no = self.compile(condition), self.compile(then), self.compile(otherwise)
        return lambda v: yes(v) if test(v) else no(v)
