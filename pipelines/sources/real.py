"""Readers for the real data sets (see ``../shared/data/README.md``), landing them as raw Parquet.

- Taobao UserBehavior CSV: ``user_id,item_id,category_id,behavior_type,timestamp`` without header;
  items get their category from the events (the most frequent one per item).
- Amazon 5-core sequences (S3-Rec preprocessing): ``user item item ...`` per line in time order,
  plus ``{"item": [attribute ids]}``. The files hold no timestamps, only order, so each event gets
  ``ts = 2014-01-01 + position`` seconds: order within a user is exact, times are not real.
  A review stands for a purchase (``buy``).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import sandbox
from pipelines.sources import EVENTS_SCHEMA, ITEMS_SCHEMA, SourceError, landing

AMAZON_BASE_TS = 1_388_534_400  # 2014-01-01 00:00 UTC


def _need_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{what} not found: {path}")
    return path


def read_taobao(csv_path: Path, workdir: Path) -> dict:
    """Land a Taobao UserBehavior CSV as raw events and items; return counts."""
    path = _need_file(csv_path, "Taobao CSV")
    raw = Path(workdir) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    con = sandbox.connect()
    try:
        con.execute(
            "create table ev as select (row_number() over () - 1)::BIGINT as source_row, * "
            "from read_csv(?, header=false, all_varchar=true, "
            "columns={'user_id':'VARCHAR','item_id':'VARCHAR','category_id':'VARCHAR',"
            "'behavior':'VARCHAR','ts':'VARCHAR'}, strict_mode=true)",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise SourceError(f"{path} is not a 5-column Taobao UserBehavior CSV: "
                          f"{str(exc).splitlines()[0]}") from None
    n = con.execute("select count(*) from ev").fetchone()[0]
    if n == 0:
        raise SourceError(f"{path} holds no rows")
    # COPY straight from DuckDB: the rows never pass through Python.
    with landing(raw / "events.parquet") as tmp:
        con.execute("copy (select * from ev order by source_row) to ? (format parquet)",
                    [str(tmp)])
    with landing(raw / "items.parquet") as tmp:
        con.execute(
            """
        copy (
            select (row_number() over (order by item_id) - 1)::BIGINT as source_row, *
            from (
                select try_cast(item_id as BIGINT) as item_id,
                       mode(try_cast(category_id as BIGINT)) as category_id,
                       NULL::BIGINT as brand_id, NULL::DOUBLE as price, NULL::BIGINT as stock,
                       list_value(mode(try_cast(category_id as BIGINT))) as attributes
                from ev where try_cast(item_id as BIGINT) is not null
                group by 1
            )
            order by source_row
        ) to ? (format parquet)
        """, [str(tmp)])
    n_items = con.execute("select count(*) from read_parquet(?)",
                          [str(raw / "items.parquet")]).fetchone()[0]
    con.close()
    return {"events": n, "items": n_items}


def read_amazon(seq_path: Path, attributes_path: Path | None, workdir: Path) -> dict:
    """Land an Amazon sequence file (and its item attributes) as raw events and items."""
    path = _need_file(seq_path, "Amazon sequence file")
    users, items, ts, rows = [], [], [], []
    with path.open() as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2 or not all(p.isdigit() for p in parts):
                raise SourceError(
                    f"{path}:{lineno}: expected 'user_id item_id item_id ...' of integers"
                )
            user = parts[0]
            for pos, item in enumerate(parts[1:]):
                users.append(user)
                items.append(item)
                ts.append(str(AMAZON_BASE_TS + pos))
    if not users:
        raise SourceError(f"{path} holds no sequences")
    rows = list(range(len(users)))
    raw = Path(workdir) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    n = len(users)
    events = pa.table(
        {"source_row": pa.array(rows, pa.int64()), "user_id": users, "item_id": items,
         "category_id": pa.nulls(n, pa.string()), "behavior": ["buy"] * n, "ts": ts},
        schema=EVENTS_SCHEMA,
    )
    with landing(raw / "events.parquet") as tmp:
        pq.write_table(events, tmp)
    attrs: dict[str, list[int]] = {}
    if attributes_path is not None:
        apath = _need_file(attributes_path, "Amazon item attributes JSON")
        try:
            attrs = json.loads(apath.read_text())
        except json.JSONDecodeError as exc:
            raise SourceError(f"{apath} is not JSON: {exc}") from None
        if not isinstance(attrs, dict) or not all(
            isinstance(v, list) and all(isinstance(a, int) for a in v) for v in attrs.values()
        ):
            raise SourceError(f"{apath} must map item id -> list of integer attribute ids")
    item_ids = sorted({int(i) for i in items})
    table = pa.table(
        {"source_row": range(len(item_ids)), "item_id": item_ids,
         "category_id": pa.nulls(len(item_ids), pa.int64()),
         "brand_id": pa.nulls(len(item_ids), pa.int64()),
         "price": pa.nulls(len(item_ids), pa.float64()),
         "stock": pa.nulls(len(item_ids), pa.int64()),
         "attributes": [attrs.get(str(i), []) for i in item_ids]},
        schema=ITEMS_SCHEMA,
    )
    with landing(raw / "items.parquet") as tmp:
        pq.write_table(table, tmp)
    return {"events": n, "items": len(item_ids), "users": len(set(users))}
