"""Validate OpenLineage 2-0-2 events against the schema written for this project.

Be liberal with facets, strict with the envelope. The envelope (event type and time, run id, job
and dataset names, producer, schema URL) must match the schema, or the event is refused. A facet
that does not match its definition is refused only in the groups named strict (``run``, ``job``,
``dataset``, ``input``, ``output``: :data:`~catalog.config.FACET_GROUPS`); elsewhere
:func:`check_event` reports it as a :class:`FacetProblem`, for the caller to store the event as
sent and leave that facet uninterpreted.

``format`` is an annotation, as in draft 2020-12, except where the catalog relies on the value
(:data:`ENFORCED_FORMATS`): run ids it stores as UUIDs, times it parses. Those formats are checked
with checks of our own (:mod:`.checks`), so the result does not depend on which optional
format-checking packages happen to be installed.

The schema lives next to this module (``schema/OpenLineage-2-0-2.json``); it is loaded once, and
the validators are built once, on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from catalog.config import FACET_GROUPS
from catalog.openlineage.checks import Check, FastCompiler, format_checker

__all__ = ["EVENT_KINDS", "EventValidationError", "FacetProblem", "check_event", "event_kind",
           "validate_event"]

SCHEMA_RESOURCE = "schema/OpenLineage-2-0-2.json"
EVENT_KINDS = ("RunEvent", "DatasetEvent", "JobEvent")
# Where ``format`` is a rule (JSON pointers into the schema): the event's time and run id, and the
# facet values the catalog parses, a parent's run id and the nominal times. Elsewhere (URIs, a
# metrics facet's lastUpdated) a value in another format is taken as sent.
ENFORCED_FORMATS = frozenset({
    "/$defs/BaseEvent/properties/eventTime",
    "/$defs/Run/properties/runId",
    "/$defs/ParentRunFacet/allOf/1/properties/run/properties/runId",
    "/$defs/NominalTimeRunFacet/allOf/1/properties/nominalStartTime",
    "/$defs/NominalTimeRunFacet/allOf/1/properties/nominalEndTime",
})
# The definitions holding facets by name, and the group of those facets.
FACET_CONTAINERS = {"RunFacets": "run", "JobFacets": "job", "DatasetFacets": "dataset",
                    "InputDatasetFacets": "input", "OutputDatasetFacets": "output"}

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


@dataclass(frozen=True)
class FacetProblem:
    """A facet that does not match its definition, in a group that is not strict.

    ``location`` is the path to the facet in the event (``("run", "facets", "parent")``), or to
    its container when that is not an object (``("inputs", 0, "facets")``, ``facet`` None then);
    ``field`` and ``message`` name the offending value as :class:`EventValidationError` would.
    """

    group: str
    facet: str | None
    location: tuple[str | int, ...]
    field: str
    message: str
    # The facet read with its null values as absent, when that matches its definition (what
    # Marquez's readers do with a null): interpreted instead of the facet. None: not interpreted.
    repaired: dict | None = None


@dataclass(frozen=True)
class Checked:
    """A valid envelope: the event's kind, and its facets that break their definitions."""

    kind: str
    problems: list[FacetProblem]


# --------------------------------------------------------------------------- schema loading


@cache
def load_schema() -> dict[str, Any]:
    """Return the parsed OpenLineage 2-0-2 schema document (read once, then cached)."""
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


def enforced_schema() -> dict[str, Any]:
    """The schema with ``format`` kept only at :data:`ENFORCED_FORMATS` (a copy)."""

    def walk(node: Any, pointer: str) -> Any:
        if isinstance(node, dict):
            # (a property called "format" has an object for its value, the keyword a string)
            return {key: walk(value, f"{pointer}/{key}") for key, value in node.items()
                    if key != "format" or not isinstance(value, str)
                    or pointer in ENFORCED_FORMATS}
        if isinstance(node, list):
            return [walk(value, f"{pointer}/{i}") for i, value in enumerate(node)]
        return node

    return walk(load_schema(), "")


Pair = tuple[Check, Draft202012Validator]


@dataclass(frozen=True)
class _Validators:
    """Every check :func:`check_event` runs, each a (fast check, jsonschema validator) pair."""

    # Whole events by kind: the common case, a valid event, costs one fast check.
    events: dict[str, Check]
    # Events by kind with any facets accepted: the envelope.
    envelopes: dict[str, Pair]
    # Facet containers by definition: (a known facet's pair by name, any other facet's pair).
    containers: dict[str, tuple[dict[str, Pair], Pair]]
    # A container itself: a JSON object.
    container: Pair


@cache
def _validators() -> _Validators:
    document = enforced_schema()
    defs, checker = document["$defs"], format_checker()
    head = {key: document[key] for key in ("$schema", "$id") if key in document}

    def pair(compiler: FastCompiler, all_defs: dict, schema: dict) -> Pair:
        validator = Draft202012Validator({**head, "$defs": all_defs, **schema},
                                         format_checker=checker)
        return compiler.compile(schema), validator

    full = FastCompiler(defs, memo=FACET_CONTAINERS)
    envelope_defs = {**defs, **dict.fromkeys(FACET_CONTAINERS, True)}
    envelope = FastCompiler(envelope_defs)
    containers = {}
    for name in FACET_CONTAINERS:
        known = {facet: pair(full, defs, ref) for facet, ref in defs[name]["properties"].items()}
        containers[name] = (known, pair(full, defs, defs[name]["additionalProperties"]))
    return _Validators(
        events={kind: full.table[kind] for kind in EVENT_KINDS},
        envelopes={kind: pair(envelope, envelope_defs, {"$ref": f"#/$defs/{kind}"})
                   for kind in EVENT_KINDS},
        containers=containers,
        container=pair(full, defs, {"type": "object"}),
    )


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
    """Validate one event, every facet group strict, and return its kind.

    Raises :class:`EventValidationError` naming one offending field: among all violations,
    the one with the deepest path, the earliest in schema order on ties. ``event_index`` is
    copied onto the error, for callers validating a batch.
    """
    return check_event(event, strict=FACET_GROUPS, event_index=event_index).kind


def check_event(event: object, *, strict: Collection[str] = (),
                event_index: int | None = None) -> Checked:
    """Validate one event: its envelope, and its facets in the ``strict`` groups, must match.

    Returns the kind and the facets of the other groups that do not match their definitions.
    Raises :class:`EventValidationError` as :func:`validate_event` does, over the envelope and
    the strict groups' facets.
    """
    try:
        return _check(event, strict)
    except EventValidationError as exc:
        exc.event_index = event_index
        raise


def _check(event: object, strict: Collection[str]) -> Checked:
    kind = event_kind(event)  # type: ignore[arg-type]
    validators = _validators()
    if validators.events[kind](event):
        return Checked(kind, [])
    assert isinstance(event, dict)
    is_valid, validator = validators.envelopes[kind]
    refused: list[tuple[tuple, ValidationError]] = []
    if not is_valid(event):
        refused += (((), error) for error in validator.iter_errors(event))
    problems = []
    for group, facet, location, errors, pair in _bad_facets(validators, kind, event):
        if group in strict:
            refused += ((location, error) for error in errors)
            continue
        field, message = _pick_error((location, error) for error in errors)
        value = _at(event, location)
        repaired = _without_nulls(value) if isinstance(value, dict) else None
        if repaired is not None and pair is not None and pair[0](repaired):
            problems.append(FacetProblem(group, facet, location, field,
                                         f"{message} (read as absent)", repaired))
        else:
            problems.append(FacetProblem(group, facet, location, field, message))
    if refused:
        raise EventValidationError(*_pick_error(refused))
    return Checked(kind, problems)


def _bad_facets(validators: _Validators, kind: str, event: dict) -> Iterator[tuple]:
    """(group, facet name, location, errors, its definition's checkers or None) of each facet,
    or container, that breaks its definition."""
    for definition, location, facets in _containers(kind, event):
        group = FACET_CONTAINERS[definition]
        if not isinstance(facets, dict):
            yield group, None, location, _errors(validators.container, facets), None
            continue
        known, other = validators.containers[definition]
        for name, facet in facets.items():
            pair = known.get(name, other)
            errors = _errors(pair, facet)
            if errors:
                yield group, name, (*location, name), errors, pair


def _at(event: dict, location: tuple) -> Any:
    node: Any = event
    for key in location:
        node = node[key]
    return node


def _without_nulls(value: Any) -> Any:
    """``value`` with every object member whose value is null left out, at any depth."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# Where facets are, by the key of the object holding them: (key, definition) pairs.
_RUN_FACETS = (("facets", "RunFacets"),)
_JOB_FACETS = (("facets", "JobFacets"),)
_DATASET_FACETS = {"dataset": (("facets", "DatasetFacets"),),
                   "inputs": (("facets", "DatasetFacets"), ("inputFacets", "InputDatasetFacets")),
                   "outputs": (("facets", "DatasetFacets"),
                               ("outputFacets", "OutputDatasetFacets"))}


def _containers(kind: str, event: dict) -> Iterator[tuple[str, tuple, Any]]:
    """(definition, location, value) of every facet container the event carries, in the order
    of the schema."""
    holders: list[tuple[tuple, Any, tuple]] = []
    if kind == "DatasetEvent":
        holders.append((("dataset",), event.get("dataset"), _DATASET_FACETS["dataset"]))
    else:
        if kind == "RunEvent":
            holders.append((("run",), event.get("run"), _RUN_FACETS))
        holders.append((("job",), event.get("job"), _JOB_FACETS))
        for key in ("inputs", "outputs"):
            items = event.get(key)
            if isinstance(items, list):
                holders += [((key, i), item, _DATASET_FACETS[key]) for i, item in enumerate(items)]
    for location, holder, keys in holders:
        if isinstance(holder, dict):  # else the envelope is at fault
            for key, definition in keys:
                if key in holder:
                    yield definition, (*location, key), holder[key]


def _errors(pair: Pair, value: Any) -> list[ValidationError]:
    is_valid, validator = pair
    return [] if is_valid(value) else list(validator.iter_errors(value))


# --------------------------------------------------------------------------- error reporting


def _leaves(errors: Iterable[tuple[tuple, ValidationError]]) -> Iterator[tuple]:
    """Yield errors in order, replacing anyOf/oneOf errors by their sub-errors."""
    for prefix, error in errors:
        if error.context:
            yield from _leaves((prefix, sub) for sub in error.context)
        else:
            yield prefix, error


def _pick_error(errors: Iterable[tuple[tuple, ValidationError]]) -> tuple[str, str]:
    """(field, message) of the deepest error, the first on ties; each error is given with the
    path of the value it was found in."""
    best: tuple[list[Any], ValidationError] | None = None
    for prefix, error in _leaves(errors):
        path = [*prefix, *error.absolute_path]
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
