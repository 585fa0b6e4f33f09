"""Stewards' edits of dataset metadata: description, owners, tags, freshness, column text.

Each edit validates the whole form first (every problem is reported, keyed by form field), then
writes only what changed and records the change, before and after, in the audit trail in the
same transaction. An edit that changes nothing writes nothing and records nothing. Marquez's
tag writes (``PUT /tags/{name}``, tagging a dataset or one of its fields) follow the same rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.errors import NotFound, ValidationFailed
from catalog.ingest import datasets as dsvc
from catalog.ingest.writes import find_dataset, insert_ignore, tag_ids
from catalog.models import Dataset, DatasetField, DatasetFieldTag, DatasetTag, Tag
from catalog.services import history
from catalog.services.audit import record_change

MAX_DESCRIPTION = 20_000
MAX_OWNERS = 50
MAX_TAGS = 50
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")
_OWNER = re.compile(r"^[^\s<>][^<>\n]{0,255}$")
_OWNER_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
# The facet producer named on facets written by stewards' edits.
PRODUCER = "recocatalog/web"


@dataclass
class DatasetEdit:
    """A validated edit of a dataset's own metadata."""

    description: str | None
    owners: list[tuple[str, str | None]]
    tags: list[str]
    freshness_hours: int | None


def _invalid(errors: dict[str, str]) -> ValidationFailed:
    first = next(iter(errors))
    return ValidationFailed(errors[first], field=first, errors=errors)


def parse_dataset_edit(form: dict) -> DatasetEdit:
    """Validate the dataset form's text fields; :class:`ValidationFailed` lists every problem."""
    errors: dict[str, str] = {}
    description = (form.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"Description is {len(description):,} characters; the limit is " \
                                f"{MAX_DESCRIPTION:,}."
    owners: list[tuple[str, str | None]] = []
    for line in (form.get("owners") or "").splitlines():
        line = line.strip()
        if not line:
            continue
        kind, sep, name = line.partition(":")
        kind, name = (kind.strip(), name.strip()) if sep else (None, line)
        if sep and not _OWNER_TYPE.match(kind):
            errors["owners"] = f"Owner type {kind!r} must be a word (letters, digits, _ or -)."
        elif not _OWNER.match(name):
            errors["owners"] = f"Owner {line!r} must be 1-256 characters without < or >."
        else:
            owners.append((name, kind))
    if len(owners) > MAX_OWNERS:
        errors["owners"] = f"At most {MAX_OWNERS} owners."
    tags = sorted({t.strip() for t in (form.get("tags") or "").split(",") if t.strip()})
    bad = [t for t in tags if not _TAG.match(t)]
    if bad:
        errors["tags"] = f"Tag {bad[0]!r} is not valid: use letters, digits, '_', '.', ':' or " \
                         "'-' (at most 128), starting with a letter or digit."
    elif len(tags) > MAX_TAGS:
        errors["tags"] = f"At most {MAX_TAGS} tags."
    raw = (form.get("freshness_hours") or "").strip()
    hours = None
    if raw:
        if not raw.isdigit() or not 1 <= int(raw) <= 24 * 366:
            errors["freshness_hours"] = "Freshness window must be a whole number of hours " \
                                        "between 1 and 8784, or empty."
        else:
            hours = int(raw)
    if errors:
        raise _invalid(errors)
    return DatasetEdit(description or None, owners, tags, hours)


def _snapshot(ds: Dataset) -> dict:
    from catalog.read.dataset_view import freshness_window

    return {
        "description": ds.description,
        "owners": sorted([o.type + ":" + o.name if o.type else o.name for o in ds.owners]),
        "tags": sorted(t.name for t in ds.tags),
        "freshnessHours": freshness_window(ds.facets),
    }


def update_dataset(session: Session, ds: Dataset, edit: DatasetEdit, actor: str) -> bool:
    """Apply ``edit`` to ``ds`` and audit it; False when it changed nothing."""
    before = _snapshot(ds)
    after = {
        "description": edit.description,
        "owners": sorted(t + ":" + n if t else n for n, t in edit.owners),
        "tags": edit.tags,
        "freshnessHours": edit.freshness_hours,
    }
    if before == after:
        return False
    changed = sorted(k for k in after if after[k] != before[k])
    if "description" in changed:
        ds.description = edit.description
    if "freshnessHours" in changed:
        facets = dict(ds.facets or {})
        if edit.freshness_hours is None:
            facets.pop("freshness", None)
        else:
            facets["freshness"] = {"_producer": PRODUCER, "_schemaURL": PRODUCER,
                                   "windowHours": edit.freshness_hours}
        ds.facets = facets
    session.flush()
    if "owners" in changed:
        dsvc.set_owners(session, ds.id, [(n, t or None) for n, t in edit.owners])
    if "tags" in changed:
        keep = set(edit.tags)
        drop = [t.id for t in ds.tags if t.name not in keep]
        if drop:
            session.execute(delete(DatasetTag).where(DatasetTag.dataset_id == ds.id,
                                                     DatasetTag.tag_id.in_(drop)))
        dsvc.add_tags(session, ds.id, edit.tags)
    record_change(
        session, actor=actor, action="dataset.update", entity_type="dataset",
        entity_key=f"{ds.namespace.name}/{ds.name}",
        before={k: before[k] for k in changed}, after={k: after[k] for k in changed},
    )
    session.flush()
    session.expire(ds)
    return True


def update_column_descriptions(
    session: Session, ds: Dataset, descriptions: dict[str, str], actor: str
) -> list[str]:
    """Set column descriptions (``{column: text}``; empty text clears); audit; changed names."""
    fields = {f.name: f for f in session.scalars(
        select(DatasetField).where(DatasetField.dataset_id == ds.id))}
    errors = {}
    for name, text in descriptions.items():
        if name not in fields:
            errors[f"col:{name}"] = f"{name!r} is not a column of this dataset (reload the page)."
        elif len(text) > MAX_DESCRIPTION:
            errors[f"col:{name}"] = f"Description of {name!r} exceeds {MAX_DESCRIPTION:,} " \
                                    "characters."
    if errors:
        raise _invalid(errors)
    before, after = {}, {}
    for name, text in sorted(descriptions.items()):
        new = text.strip() or None
        if fields[name].description != new:
            before[name], after[name] = fields[name].description, new
            fields[name].description = new
    if not after:
        return []
    session.flush()
    record_change(
        session, actor=actor, action="dataset.columns.update", entity_type="dataset",
        entity_key=f"{ds.namespace.name}/{ds.name}",
        before={"columns": before}, after={"columns": after},
    )
    return sorted(after)


def tag_names(session: Session) -> list[str]:
    """All tag names, for suggestions."""
    return list(session.scalars(select(Tag.name).order_by(Tag.name)))


# --- tags, as Marquez's API writes them -----------------------------------------------------------

TAG_ENTITY = "tag"


def check_tag_name(name: str) -> str:
    """A tag name as stewards' forms accept it, else :class:`ValidationFailed`."""
    if not _TAG.match(name):
        raise ValidationFailed(f"tag {name!r} is not valid: use letters, digits, '_', '.', ':' "
                               "or '-' (at most 128), starting with a letter or digit",
                               field="tag")
    return name


def put_tag(session: Session, name: str, body: object, *, actor: str) -> Tag:
    """Create tag ``name`` or replace its description (body ``{"description": str | null}``,
    optional); audited (``tag.create`` or ``tag.update``) when something changed."""
    check_tag_name(name)
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise ValidationFailed("body must be a JSON object: {\"description\"}", field="")
    description = body.get("description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > MAX_DESCRIPTION):
        raise ValidationFailed(f"description must be a string of at most {MAX_DESCRIPTION:,} "
                               "characters, or null", field="description")
    tag = session.scalar(select(Tag).where(Tag.name == name))
    before = {"description": tag.description} if tag is not None else None
    if tag is None:
        tag = session.get(Tag, tag_ids(session, [name])[name])
    tag.description = description
    session.flush()
    if before != {"description": description}:
        record_change(session, actor=actor, action="tag.update" if before else "tag.create",
                      entity_type=TAG_ENTITY, entity_key=name, before=before,
                      after={"description": description})
    return tag


def _audited_dataset_change(session: Session, ds: Dataset, action: str, change, actor: str):
    """Run ``change()`` and audit the dataset's metadata before and after, if it changed."""
    before = history.dataset_snapshot(session, ds.id)
    change()
    after = history.dataset_snapshot(session, ds.id)
    if after != before:
        record_change(session, actor=actor, action=action, entity_type=history.DATASET_ENTITY,
                      entity_key=history.dataset_key(ds.namespace.name, ds.name),
                      before=before, after=after)


def tag_dataset(session: Session, namespace: str, name: str, tag: str, *, actor: str) -> Dataset:
    """Tag a dataset (the tag is created if new); audited as ``dataset.tag``."""
    check_tag_name(tag)
    ds = find_dataset(session, namespace, name)
    _audited_dataset_change(session, ds, "dataset.tag",
                            lambda: dsvc.add_tags(session, ds.id, [tag]), actor)
    return ds


def tag_field(session: Session, namespace: str, name: str, field: str, tag: str, *,
              actor: str) -> Dataset:
    """Tag one field of a dataset's current schema (the tag is created if new); audited as
    ``dataset.field.tag``. :class:`NotFound` naming the field if the dataset has none such."""
    check_tag_name(tag)
    ds = find_dataset(session, namespace, name)
    field_id = session.scalar(select(DatasetField.id).where(
        DatasetField.dataset_id == ds.id, DatasetField.name == field))
    if field_id is None:
        raise NotFound(f"dataset {namespace}:{name} has no field {field!r}", field="field")

    def change():
        insert_ignore(session, DatasetFieldTag,
                      {"field_id": field_id, "tag_id": tag_ids(session, [tag])[tag]},
                      ["field_id", "tag_id"])

    _audited_dataset_change(session, ds, "dataset.field.tag", change, actor)
    return ds
