"""SQL building blocks of the uniqueness proofs: packed integer keys, temporary tables.

Imported by ``uniqueness`` and ``dense_key``; imports neither.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy.sql.ddl import CreateTableAs


def pack_key(cols: list, bounds: list, limit: int) -> Any:
    """``(a - min a) * span b + (b - min b)``...: one to one while spans multiply to <= limit."""
    import sqlalchemy as sa

    if math.prod(hi - lo + 1 for lo, hi in bounds) > limit:
        return None
    key, multiplier = None, 1
    for col, (lo, hi) in reversed(list(zip(cols, bounds, strict=True))):
        term = (sa.cast(col, sa.BigInteger) - sa.literal(lo, sa.BigInteger)) * sa.literal(
            multiplier, sa.BigInteger)
        key = term if key is None else key + term
        multiplier *= hi - lo + 1
    return key


def materialize(execution_engine: Any, query: Any, names: list[str], *,
                 empty: bool = False) -> Any:
    """Run ``query`` once into a temporary table of GE's connection; that table, as a selectable.

    The validation holds one DuckDB connection (StaticPool), so the table is visible to every
    later query and goes when the connection closes at the end of the validation. ``empty``:
    the query is known to return no rows, so only its columns are created (``LIMIT 0``, which
    DuckDB answers without running it).
    """
    import sqlalchemy as sa

    if empty:
        query = query.limit(0)
    table = f"_pipelines_dups_{uuid.uuid4().hex}"
    # SQLAlchemy renders the whole statement: the name through its identifier quoting, the
    # select's values (integers: offsets, spans, the repeat threshold, LIMIT 0) as typed
    # literals; nothing here composes SQL text.
    execution_engine.execute_query_in_transaction(CreateTableAs(query, table, temporary=True))
    return sa.table(table, *[sa.column(n) for n in names])
