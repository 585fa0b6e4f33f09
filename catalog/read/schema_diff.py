"""Differences between two schemas (a dataset version's ``schema_fields``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SchemaDiff:
    """Fields only in the new schema, only in the old, and those whose type or text changed."""

    added: list[dict] = field(default_factory=list)
    removed: list[dict] = field(default_factory=list)
    # (old field, new field) pairs with a different type or description.
    changed: list[tuple[dict, dict]] = field(default_factory=list)
    # Names kept, in the new schema's order, whose type and description are unchanged.
    unchanged: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True when the two schemas are the same."""
        return not (self.added or self.removed or self.changed)


def diff_schemas(old: list[dict] | None, new: list[dict] | None) -> SchemaDiff:
    """Compare schemas field by field, matching fields by name (order changes are not changes)."""
    old_by = {f["name"]: f for f in old or []}
    new_by = {f["name"]: f for f in new or []}
    out = SchemaDiff()
    for f in new or []:
        before = old_by.get(f["name"])
        if before is None:
            out.added.append(f)
        elif (before.get("type"), before.get("description")) != (f.get("type"),
                                                                f.get("description")):
            out.changed.append((before, f))
        else:
            out.unchanged.append(f["name"])
    out.removed = [f for f in old or [] if f["name"] not in new_by]
    return out
