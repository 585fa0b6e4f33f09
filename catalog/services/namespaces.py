"""Namespaces described through the API: Marquez's ``PUT /namespaces/{name}``.

Namespaces are otherwise created on the fly by whatever names one (events, registration); this is
the one place their owner and description are set. Every change is audited.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.errors import ValidationFailed
from catalog.ingest.writes import get_or_create_namespace
from catalog.models import Namespace
from catalog.services.audit import record_change

ENTITY = "namespace"
MAX_NAME = 512  # namespaces.name
MAX_OWNER = 256  # namespaces.owner_name
MAX_DESCRIPTION = 20_000


def _snapshot(ns: Namespace) -> dict:
    return {"ownerName": ns.owner_name, "description": ns.description}


def check_name(name: str) -> str:
    """A namespace name the catalog can store, else :class:`ValidationFailed`."""
    if not name.strip() or len(name) > MAX_NAME:
        raise ValidationFailed(f"a namespace name is 1-{MAX_NAME} characters, not blank",
                               field="namespace")
    return name


def put_namespace(session: Session, name: str, body: object, *, actor: str) -> Namespace:
    """Create namespace ``name`` or replace its owner and description.

    ``body`` is Marquez's NamespaceMeta: ``{"ownerName": str, "description": str | null}``
    (``ownerName`` required). Audited (``namespace.create`` or ``namespace.update``) when
    something changed.
    """
    check_name(name)
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object: {\"ownerName\", \"description\"}",
                               field="")
    owner, description = body.get("ownerName"), body.get("description")
    if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_OWNER:
        raise ValidationFailed(f"ownerName is required: a string of 1-{MAX_OWNER} characters",
                               field="ownerName")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > MAX_DESCRIPTION):
        raise ValidationFailed(f"description must be a string of at most {MAX_DESCRIPTION:,} "
                               "characters, or null", field="description")
    ns = session.scalar(select(Namespace).where(Namespace.name == name))
    before = _snapshot(ns) if ns is not None else None
    if ns is None:
        ns = get_or_create_namespace(session, name)
    ns.owner_name, ns.description = owner, description
    session.flush()
    after = _snapshot(ns)
    if after != before:
        record_change(session, actor=actor, action="namespace.update" if before else
                      "namespace.create", entity_type=ENTITY, entity_key=name,
                      before=before, after=after)
    return ns
