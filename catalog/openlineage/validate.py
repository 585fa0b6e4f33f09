"""Validate OpenLineage 2-0-2 events against the schema written for this project.

The schema lives next to this module (``schema/OpenLineage-2-0-2.json``). It is loaded once,
and one validator per event kind is built once, on first use. ``format`` is enforced for
``uuid``, ``date-time`` and ``uri`` with checks of our own (:mod:`.checks`), so the result does
not depend on which optional format-checking packages happen to be installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from catalog.openlineage.checks import Check, FastCompiler, format_checker

__all__ = ["EVENT_KINDS", "EventValidationError", "event_kind", "validate_event"]

SCHEMA_RESOURCE = "schema/OpenLineage-2-0-2.json"
EVENT_KINDS = ("RunEvent", "DatasetEvent", "JobEvent")

_MAX_VALUE_REPR = 80
_PLAIN_KEY = re.compile(r"^[^.\[\]\"]+$")


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


# --------------------------------------------------------------------------- schema loading


@cache
def load_schema() -> dict[str, Any]:
    """Return the parsed OpenLineage 2-0-2 schema document (read once, then cached)."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validators() -> dict[str, tuple[Check, Draft202012Validator]]:
    """Build, once, a (fast check, jsonschema validator) pair per event kind."""
    document = load_schema()
    checker = format_checker()
    fast = FastCompiler(document["$defs"]).table
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
