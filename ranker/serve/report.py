"""How each served version did: lists, items shown, clicks and purchases, from the Parquet parts.

An impression row is one item shown in one list; feedback rows answer a list by request id and
name the item. Per (arm, model version): ``ctr`` = clicked items / items shown, where any
feedback on an item counts as its click (a cart or a purchase came through one), and
``purchase_rate`` = bought items / items shown, each (list, item) counted once however often it
was posted; ``lists_with_purchase`` is the share of lists that led to a purchase. Lists served by
the popularity fallback are reported apart (``strategy``), since they did not come from the model.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from ranker.serve.batches import part_folders

_QUERY = """
with answered as (
    select distinct request_id, cast(item_id as BIGINT) as item_id, feedback from events
    where request_id is not null
),
per_item as (
    select s.arm, s.model_version, s.strategy, s.request_id, s.item_id,
           count(a.feedback) > 0 as clicked,
           count(*) filter (where a.feedback = 'buy') > 0 as bought
    from impressions s left join answered a using (request_id, item_id)
    group by all
),
per_list as (
    select arm, model_version, strategy, request_id, count(*) as shown,
           count(*) filter (where clicked) as clicks,
           count(*) filter (where bought) as purchases
    from per_item group by all
)
select arm, model_version, strategy, count(*) as lists, sum(shown), sum(clicks),
       sum(purchases), count(*) filter (where purchases > 0) as lists_bought
from per_list
group by all
order by all
"""


def serving_report(data_dir: Path) -> list[dict]:
    """One row per (arm, model version, strategy) served from ``data_dir``; [] before any."""
    imp = [p for d in part_folders(data_dir, "impressions") for p in d.glob("part-*.parquet")]
    ev = [p for d in part_folders(data_dir, "served_events") for p in d.glob("part-*.parquet")]
    if not imp:
        return []
    con = duckdb.connect()
    try:
        con.read_parquet([str(p) for p in imp], union_by_name=True).create_view("impressions")
        if ev:
            con.read_parquet([str(p) for p in ev], union_by_name=True).create_view("events")
        else:
            con.execute("create view events as select null::VARCHAR as request_id, "
                        "null::VARCHAR as item_id, null::VARCHAR as feedback where false")
        rows = con.execute(_QUERY).fetchall()
    finally:
        con.close()
    out = []
    for arm, version, strategy, lists, shown, clicks, purchases, lists_bought in rows:
        out.append({"arm": arm, "model_version": version, "strategy": strategy, "lists": lists,
                    "items_shown": shown, "clicks": clicks, "purchases": purchases,
                    "ctr": clicks / shown if shown else 0.0,
                    "purchase_rate": purchases / shown if shown else 0.0,
                    "lists_with_purchase": lists_bought / lists if lists else 0.0})
    return out
