"""The audit trail page for auditors: filtered entries with their changes, chain verification."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import render_template, request

from catalog.context import read_session
from catalog.errors import BadRequest
from catalog.services import audit
from catalog.web.common import int_param, page_blueprint, time_param

bp = page_blueprint("web_audit", __name__)

PER_PAGE = 50
FILTERS = ("entity_type", "entity_key", "actor", "since", "until")


def changes(before: dict | None, after: dict | None) -> list[tuple[str, object, object]]:
    """(key, before, after) for every top-level key whose value differs, in key order."""
    before, after = before or {}, after or {}
    return [(k, before.get(k), after.get(k)) for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)]


def entity_link(entity_type: str, key: str) -> str | None:
    """The page of an audited entity, where it has one."""
    if entity_type == "dataset":
        return "/datasets/" + key  # "namespace/name"; the dataset route resolves the split
    if entity_type in ("model", "model_version", "model_alias"):
        return "/models/" + key.partition("@")[0].partition(":")[0]
    return None


@bp.get("/audit")
def audit_page():
    """Entries oldest first, filtered by entity, actor and time; ``verify=1`` checks the chain."""
    page = int_param("page", 1, 1)
    since, until = time_param("since"), time_param("until")
    if since and until and since > until:
        raise BadRequest("'since' must not be later than 'until'", field="since")
    args = {k: request.args.get(k, "").strip() for k in FILTERS}
    with read_session() as session:
        rows = audit.query_entries(
            session, entity_type=args["entity_type"] or None,
            entity_key=args["entity_key"] or None, actor=args["actor"] or None,
            since=since, until=until, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        report = audit.verify_chain(session) if request.args.get("verify") == "1" else None
        entries = [(e, changes(e.before, e.after), entity_link(e.entity_type, e.entity_key))
                   for e in rows[:PER_PAGE]]
        api_args = {"entityType": args["entity_type"], "entityKey": args["entity_key"],
                    "actor": args["actor"], "since": args["since"], "until": args["until"]}
        query = urlencode({k: v for k, v in api_args.items() if v})
        return render_template(
            "audit.html", entries=entries, args=args, page=page,
            has_more=len(rows) > PER_PAGE, report=report,
            page_args=urlencode({k: v for k, v in args.items() if v}),
            export_query=query)
