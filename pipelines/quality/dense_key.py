"""An exact uniqueness proof for integer compound keys too wide to pack into DuckDB's array.

A key such as ``(user_id, seq_no)``, a user and a counter within the user, spans users x the
longest counter when packed into one BIGINT: far more than the rows, so ``count(distinct)``
hashes and costs more than grouping the table. But per user the counter only spans its own
range. Numbering the key by offsets per outer value,

    offset(u) = sum over users v < u of span(v),  span(v) = max(b) - min(b) + 1 over v's rows
    position(u, b) = offset(u) + b - min(b over u's rows)

maps every key one to one into ``[0, sum of spans)``: each user gets its own interval, and
within it ``b`` moves by one per value. So the key is unique (and holds no NULL) exactly when
the rows hit ``count(*)`` different positions, which a bitmap of ``sum of spans`` bits counts
(DuckDB's ``bitstring_agg``, then ``bit_count``). The spans come from one GROUP BY of the
outer column (an array where its range is small) and the positions from a join of the table
with that small table; both are cheaper than grouping every row by the whole key. A row with a
NULL in the key gets no position (the join drops a NULL outer value, arithmetic keeps a NULL
``b``), so the count falls short and the proof fails, as it must.
"""

from __future__ import annotations

from typing import Any

from pipelines.quality.keysql import materialize, pack_key

# The bitmap's size, at most (32 MB per DuckDB thread).
MAX_POSITIONS = 2**28


def proven_unique_by_offsets(execution_engine: Any, source: Any, cols: list, bounds: list,
                             bits: int) -> bool | None:
    """Whether ``cols`` (integers with ``bounds``) are unique and non-NULL in ``source``.

    The counter (the inner column) is tried narrowest range first; a choice applies when the
    other columns pack into DuckDB's array range (``2**bits``) and the positions number at most
    :data:`MAX_POSITIONS` and at most 4 per row. None when no choice applies.
    """
    import sqlalchemy as sa


    (rows,) = execution_engine.execute_query(
        sa.select(sa.func.count()).select_from(source)).fetchone()
    for inner in sorted(range(len(cols)), key=lambda i: bounds[i][1] - bounds[i][0]):
        outer = pack_key([c for i, c in enumerate(cols) if i != inner],
                      [b for i, b in enumerate(bounds) if i != inner], 2**bits)
        if outer is not None and rows:
            proof = _prove(execution_engine, source, outer, cols[inner], rows)
            if proof is not None:
                return proof
    return None


def _prove(execution_engine: Any, source: Any, outer: Any, inner: Any, rows: int) -> bool | None:
    """The proof with ``outer`` (a packed expression) and counter ``inner``; None if too wide."""
    import sqlalchemy as sa


    value = sa.cast(inner, sa.BigInteger)
    lo, hi = sa.func.min(value), sa.func.max(value)
    spans = (sa.select(outer.label("k"), lo.label("lo"), (hi - lo + 1).label("span"))
             .select_from(source).where(outer.is_not(None)).group_by(outer).subquery("spans"))
    offsets = materialize(execution_engine, sa.select(
        spans.c.k, spans.c.lo, spans.c.span,
        sa.cast(sa.func.sum(spans.c.span).over(order_by=spans.c.k) - spans.c.span,
                sa.BigInteger).label("off")), ["k", "lo", "span", "off"])
    (total,) = execution_engine.execute_query(
        sa.select(sa.func.sum(offsets.c.span))).fetchone()
    if total is None or total > min(MAX_POSITIONS, 4 * rows):
        return None
    position = offsets.c.off + value - offsets.c.lo
    hit = sa.func.bit_count(sa.func.bitstring_agg(
        position, sa.literal_column("0"), sa.literal_column(str(int(total) - 1))))
    (distinct,) = execution_engine.execute_query(
        sa.select(hit).select_from(source.join(offsets, offsets.c.k == outer))).fetchone()
    return distinct == rows
