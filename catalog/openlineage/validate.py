"""Validate OpenLineage 2-0-2 events against the schema written for this project.

The schema lives next to this module (``schema/OpenLineage-2-0-2.json``). It is loaded once,
and one validator per event kind is built once, on first use. ``format`` is enforced for
``uuid``, ``date-time`` and ``uri`` with checks implemented here, so the result does not depend
on which optional format-checking packages happen to be installed.
"""

from __future__ import annotations

import json
import numbers
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

__all__ = ["EVENT_KINDS", "EventValidationError", "event_kind", "validate_event"]

SCHEMA_RESOURCE = "schema/OpenLineage-2-0-2.json"
EVENT_KINDS = ("RunEvent", "DatasetEvent", "JobEvent")

_MAX_VALUE_REPR = 80
_PLAIN_KEY = re.compile(r"^[^.\[\]\"]+$")
_WHITESPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class EventValidationError(Exception):
    """An OpenLineage event does not conform to the spec.

    ``field`` is the dotted path of the offending value (``"run.runId"``,
    ``"inputs[0].facets.schema.fields[1].name"``; ``""`` for the event itself), ``message`` says
    what is wrong with it, and ``event_index`` is the position of the event in a batch, when the
    caller supplied one.
    """

    def __init__(self, field: str, message: str, event_index: int | None = None) -> None:
        self.field = field
        self.message = message
        self.event_index = event_index
        super().__init__(field, message, event_index)

    def __str__(self) -> str:
        where = f"event {self.event_index}: " if self.event_index is not None else ""
        if self.field:
            return f"{where}{self.field}: {self.message}"
        return f"{where}{self.message}"


# --------------------------------------------------------------------------- format checks


def _is_uuid(value: object) -> bool:
    """Accept only the canonical hyphenated UUID form (any case)."""
    if not isinstance(value, str):
        return True
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value.lower()


def _is_date_time(value: object) -> bool:
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


def _is_uri(value: object) -> bool:
    """Accept an absolute URI: it must have a scheme and contain no whitespace."""
    if not isinstance(value, str):
        return True
    if not value or _WHITESPACE_OR_CONTROL.search(value):
        return False
    try:
        return bool(urlsplit(value).scheme)
    except ValueError:
        return False


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("uuid")(_is_uuid)
    checker.checks("date-time")(_is_date_time)
    checker.checks("uri")(_is_uri)
    return checker


# --------------------------------------------------------------------------- fast checks
#
# jsonschema spends most of its time creating a validator per subschema visited (~8 us
# each), which makes a RunEvent with a few facets cost 1-2 ms. Valid events are the common
# case, so the schema is also compiled into plain closures that only answer "valid or not";
# jsonschema runs only when they say "not valid", to report the offending field. The
# compiler refuses any keyword it does not implement, so it cannot silently accept what
# jsonschema would reject.

_Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"$comment", "$id", "$schema", "description", "title", "examples"})
_FORMATS: dict[str, _Check] = {"uuid": _is_uuid, "date-time": _is_date_time, "uri": _is_uri}
_TYPES: dict[str, _Check] = {
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


def _always(_value: Any) -> bool:
    return True


def _all_of(checks: list[_Check]) -> _Check:
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


class _FastCompiler:
    """Compile the subset of JSON Schema used by our schema into boolean closures."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.table: dict[str, _Check] = {}
        self.table.update({name: self.compile(sub) for name, sub in defs.items()})

    def compile(self, schema: Any) -> _Check:
        if schema is True:
            return _always
        if schema is False:
            return lambda _value: False
        checks: list[_Check] = []
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

    def _ref(self, ref: str) -> _Check:
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"fast checker only resolves local $defs references, not {ref}")
        name, table = ref.removeprefix("#/$defs/"), self.table
        return lambda v: table[name](v)

    def _properties(self, properties: dict[str, Any], additional: Any) -> _Check:
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

    def _if(self, condition: Any, then: Any, otherwise: Any) -> _Check:
        test, yes, no = self.compile(condition), self.compile(then), self.compile(otherwise)
        return lambda v: yes(v) if test(v) else no(v)


# --------------------------------------------------------------------------- schema loading


@cache
def load_schema() -> dict[str, Any]:
    """Return the parsed OpenLineage 2-0-2 schema document (read once, then cached)."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validators() -> dict[str, tuple[_Check, Draft202012Validator]]:
    """Build, once, a (fast check, jsonschema validator) pair per event kind."""
    document = load_schema()
    checker = _format_checker()
    fast = _FastCompiler(document["$defs"]).table
    validators = {}
    for kind in EVENT_KINDS:
        schema = {key: document[key] for key in ("$schema", "$id", "$defs") if key in document}
        schema["$ref"] = f"#/$defs/{kind}"
        validators[kind] = (fast[kind], Draft202012Validator(schema, format_checker=checker))
    return validators


# --------------------------------------------------------------------------- public API


def event_kind(event: dict) -> str:
    """Return ``"RunEvent"``, ``"DatasetEvent"`` or ``"JobEvent"`` for an event body.

    The ``schemaURL`` fragment decides when it names one of the kinds
    (``...OpenLineage.json#/$defs/RunEvent``); otherwise the keys do: ``dataset`` makes a
    DatasetEvent, ``run`` a RunEvent, and ``job`` without ``run`` a JobEvent.
    """
    if not isinstance(event, dict):
        raise EventValidationError("", f"event must be a JSON object, not {_json_type(event)}")
    schema_url = event.get("schemaURL")
    if isinstance(schema_url, str) and "#" in schema_url:
        name = schema_url.rpartition("#")[2].rstrip("/").rpartition("/")[2]
        if name in EVENT_KINDS:
            return name
    if "dataset" in event:
        return "DatasetEvent"
    if "run" in event:
        return "RunEvent"
    if "job" in event:
        return "JobEvent"
    raise EventValidationError(
        "",
        "cannot tell the event kind: no RunEvent/DatasetEvent/JobEvent schemaURL and "
        "none of the keys 'run', 'job' or 'dataset'",
    )


def validate_event(event: object, *, event_index: int | None = None) -> str:
    """Validate one event against the spec and return its kind.

    Raises :class:`EventValidationError` naming one offending field: among all violations,
    the one with the deepest path, the earliest in schema order on ties. ``event_index`` is
    copied onto the error, for callers validating a batch.
    """
    try:
        return _validate(event)
    except EventValidationError as exc:
        exc.event_index = event_index
        raise


def _validate(event: object) -> str:
    kind = event_kind(event)  # type: ignore[arg-type]
    is_valid, validator = _validators()[kind]
    if is_valid(event):
        return kind
    errors = validator.iter_errors(event)
    first = next(errors, None)
    if first is None:  # jsonschema is authoritative, should the two ever disagree
        return kind
    field, message = _pick_error(_leaves([first, *errors]))
    raise EventValidationError(field, message)


# --------------------------------------------------------------------------- error reporting


def _leaves(errors: Iterable[ValidationError]) -> Iterator[ValidationError]:
    """Yield errors in order, replacing anyOf/oneOf errors by their sub-errors."""
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def _pick_error(errors: Iterable[ValidationError]) -> tuple[str, str]:
    best: tuple[list[Any], ValidationError] | None = None
    for error in errors:
        path = list(error.absolute_path)
        if error.validator == "required":
            missing = _missing_property(error)
            if missing is not None:
                path.append(missing)
        if best is None or len(path) > len(best[0]):
            best = (path, error)
    assert best is not None
    path, error = best
    return _format_path(path), _describe(error)


def _missing_property(error: ValidationError) -> str | None:
    instance = error.instance
    if not isinstance(instance, dict):
        return None
    missing = [name for name in error.validator_value if name not in instance]
    for name in missing:
        if error.message == f"{name!r} is a required property":
            return name
    return missing[0] if missing else None


def _format_path(path: list[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _describe(error: ValidationError) -> str:
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "required":
        return "required property is missing"
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {_json_type(value)}"
    if keyword == "enum":
        return f"{_short(value)} is not one of {', '.join(map(str, expected))}"
    if keyword == "format":
        return f"{_short(value)} is not a valid {expected}"
    if keyword == "const":
        return f"expected {_short(expected)}, got {_short(value)}"
    return error.message


def _short(value: object) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= _MAX_VALUE_REPR else text[: _MAX_VALUE_REPR - 3] + "..."


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
