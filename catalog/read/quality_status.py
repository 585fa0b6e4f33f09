"""Quality status of dataset versions: the outcome of each version's latest check.

A version is "failing" when the latest run that checked it reported a failed expectation,
"passing" when that run's expectations all held, and "unchecked" when nothing checked it. This is
the rule the promotion gate uses (a later successful re-check clears an older failure).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Dataset, QualityAssertion

FAILING, PASSING, UNCHECKED = "failing", "passing", "unchecked"
STATUSES = (FAILING, PASSING, UNCHECKED)
# Ids per IN list (SQLite's bound-parameter limit).
_CHUNK = 5000


def version_status(session: Session, version_ids) -> dict[int, str]:
    """Status of each version in ``version_ids`` (unchecked ones included)."""
    ids = sorted(set(version_ids))
    out = dict.fromkeys(ids, UNCHECKED)
    qa = QualityAssertion
    for i in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(qa.dataset_version_id, qa.run_id, qa.success)
            .where(qa.dataset_version_id.in_(ids[i:i + _CHUNK]))
            .order_by(qa.dataset_version_id, qa.created_at, qa.id)
        ).all()
        latest: dict[int, int | None] = {}
        for vid, run_id, _ in rows:  # in time order: the last run seen is the latest check
            latest[vid] = run_id
        for vid, run_id, success in rows:
            if run_id == latest[vid]:
                if not success:
                    out[vid] = FAILING
                elif out[vid] == UNCHECKED:
                    out[vid] = PASSING
    return out


def dataset_status(session: Session, dataset_ids) -> dict[int, str]:
    """Status of each dataset's current version (unchecked when it has none)."""
    ids = sorted(set(dataset_ids))
    current: dict[int, int | None] = {}
    for i in range(0, len(ids), _CHUNK):
        current.update(session.execute(
            select(Dataset.id, Dataset.current_version_id).where(Dataset.id.in_(ids[i:i + _CHUNK]))
        ).all())
    by_version = version_status(session, [v for v in current.values() if v is not None])
    return {d: by_version.get(v, UNCHECKED) if v is not None else UNCHECKED
            for d, v in current.items()}
