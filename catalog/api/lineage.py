"""OpenLineage ingestion endpoints and the raw event feed."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from catalog.api.common import json_body, page_args, time_arg
from catalog.auth import token_cache
from catalog.context import read_session, state
from catalog.db import in_transaction
from catalog.errors import BadRequest, CatalogError, DatabaseBusy, ValidationFailed
from catalog.ingest import IngestResult, ingest_batch, ingest_event
from catalog.read import browse
from catalog.services import run_tokens

bp = Blueprint("lineage", __name__)


@bp.errorhandler(DatabaseBusy)
def _busy(exc: DatabaseBusy):
    """503 with Retry-After: the client should send the same request again later."""
    return jsonify(exc.to_dict()), exc.status, {"Retry-After": str(exc.details["retryAfter"])}


@bp.post("/lineage")
def post_lineage():
    """Accept one OpenLineage RunEvent, DatasetEvent or JobEvent (201; identical re-sends too).

    A facet that breaks its schema (in a group CATALOG_STRICT_FACETS does not name) is stored, not
    interpreted, and named in ``warnings``. A transaction that loses a race with concurrent
    writers is retried; 503 if it keeps losing.
    """
    event = json_body()
    scope = _scope()
    strict = _strict(scope)

    def work(session):
        if scope is not None:
            run_tokens.check_event(session, scope, -1, event)
        result = ingest_event(session, event, strict)
        if scope is not None:
            g.revoked = run_tokens.after_ingest(session, scope, [event], [result], actor=g.actor)
        return result

    result = in_transaction(state().sessions, work)
    _forget_revoked()
    return jsonify({"status": result.status, "kind": result.kind, "runId": result.run_id,
                    "warnings": result.warnings}), 201


def _result(index: int, outcome: IngestResult | Exception) -> dict:
    """One event's entry in a batch response; unexpected errors are logged and kept vague."""
    if isinstance(outcome, IngestResult):
        return {"index": index, "status": outcome.status, "kind": outcome.kind,
                "runId": outcome.run_id, "warnings": outcome.warnings}
    if isinstance(outcome, CatalogError):
        return {"index": index, "status": "error", "code": outcome.status, **outcome.to_dict()}
    current_app.logger.error("event %d of a batch failed", index, exc_info=outcome)
    return {"index": index, "status": "error", "code": 500, "error": "InternalServerError",
            "message": "internal error"}


def _scope() -> run_tokens.RunScope | None:
    """The run a worker's token is confined to, or None for an ordinary caller."""
    principal = g.get("principal")
    return principal.scope if principal is not None else None


def _strict(scope: run_tokens.RunScope | None) -> tuple[str, ...]:
    """The facet groups whose bad facets refuse an event. A worker's token admits a child run
    by its parent facet, so for such a token run facets are strict: a parent facet the catalog
    would not interpret must not admit a run."""
    strict = state().settings.strict_facets
    return tuple(sorted({*strict, "run"})) if scope is not None else strict


def _forget_revoked() -> None:
    """A run ended and its tokens were revoked: this process stops trusting them at once (other
    processes within CATALOG_TOKEN_CACHE_SECONDS)."""
    if g.get("revoked"):
        token_cache().clear()


def _one_by_one(events: list, strict) -> list[IngestResult | Exception]:
    """Each event in its own transaction (with its own retries): the batch's fallback."""
    outcomes = []
    for event in events:
        try:
            outcomes.append(in_transaction(
                state().sessions, lambda session, e=event: ingest_event(session, e, strict)))
        except Exception as exc:  # noqa: BLE001 - one event's failure must not fail the batch
            outcomes.append(exc)
    return outcomes


@bp.post("/lineage/batch")
def post_lineage_batch():
    """Accept a JSON array of events; each is stored or refused on its own, with a status each.

    The batch is one transaction with a savepoint per event, so a bad event rolls back alone and
    never loses or half-writes another; whatever goes wrong with one event is that event's status.
    Should the transaction as a whole keep losing races with concurrent writers (or fail), the
    events are stored one transaction each instead. 201 when all were accepted, 207 when some
    were refused. An accepted event's entry names its uninterpreted facets in ``warnings``.
    """
    events = json_body()
    if isinstance(events, dict) and isinstance(events.get("events"), list):
        events = events["events"]
    if not isinstance(events, list):
        raise BadRequest("batch body must be a JSON array of OpenLineage events")
    cap = state().settings.max_batch_events
    if len(events) > cap:
        raise BadRequest(f"batch holds {len(events)} events; the limit is {cap}")
    scope = _scope()
    strict = _strict(scope)
    if scope is not None:  # a worker's token: every event must be its run's, or none is stored
        with read_session() as session:
            for i, event in enumerate(events):
                run_tokens.check_event(session, scope, i, event)
    try:
        outcomes = in_transaction(state().sessions,
                                  lambda session: ingest_batch(session, events, strict))
    except Exception:  # noqa: BLE001 - fall back to one transaction per event
        current_app.logger.warning("batch of %d events failed as a whole; retrying one by one",
                                   len(events), exc_info=True)
        outcomes = _one_by_one(events, strict)
    if scope is not None:
        g.revoked = in_transaction(state().sessions, lambda session: run_tokens.after_ingest(
            session, scope, events, outcomes, actor=g.actor))
        _forget_revoked()
    results = [_result(i, outcome) for i, outcome in enumerate(outcomes)]
    failed = sum(r["status"] == "error" for r in results)
    code = 201 if failed == 0 else 207
    return jsonify({"accepted": len(events) - failed, "failed": failed, "results": results}), code


@bp.get("/events/lineage")
def list_events():
    """Raw events, newest first (Marquez: ``before``/``after`` bounds on event time)."""
    limit, offset = page_args()
    before, after = time_arg("before"), time_arg("after")
    if before and after and after > before:
        raise ValidationFailed("'after' must not be later than 'before'", field="after")
    with read_session() as session:
        payloads, total = browse.list_event_payloads(session, before, after, limit, offset)
    body = f'{{"events":[{",".join(payloads)}],"totalCount":{int(total)}}}'
    return current_app.response_class(body, mimetype="application/json")
