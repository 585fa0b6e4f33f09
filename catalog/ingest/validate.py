"""Step 1 of ingestion: validate and hash every event (no database)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from catalog import jsoncodec
from catalog.errors import ValidationFailed
from catalog.ingest.rows import parse_time
from catalog.openlineage.validate import EventValidationError, validate_event


@dataclass
class Event:
    """A valid event with what every step needs of it."""

    index: int
    body: dict
    kind: str
    digest: str
    time: datetime

    @property
    def run_uuid(self) -> str | None:
        return (self.body.get("run") or {}).get("runId")

    @property
    def job_key(self) -> tuple[str, str] | None:
        job = self.body.get("job")
        return (job["namespace"], job["name"]) if job else None

    def mentions(self) -> list[dict]:
        """The datasets the event names with facets (inputs, outputs, or the DatasetEvent's)."""
        if self.kind == "DatasetEvent":
            return [self.body["dataset"]]
        return (self.body.get("inputs") or []) + (self.body.get("outputs") or [])


def canonical_hash(event: dict) -> str:
    """sha256 of the event's canonical JSON: identical events hash alike whatever key order."""
    return hashlib.sha256(jsoncodec.canonical(event)).hexdigest()


def prepare(index: int, event: object) -> Event:
    """The valid event with its kind, hash and time, else :class:`ValidationFailed`."""
    try:
        kind = validate_event(event)
    except EventValidationError as exc:
        raise ValidationFailed(exc.message, field=exc.field) from None
    assert isinstance(event, dict)
    return Event(index, event, kind, canonical_hash(event), parse_time(event["eventTime"]))
