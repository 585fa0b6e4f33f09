"""Column lineage of DuckDB steps: exact edges per output column, and the SQL checked in DuckDB."""

import duckdb
import pytest
from openlineage.client.generated import column_lineage_dataset as ol

from pipelines.column_lineage import (
    ColumnEdge,
    SourceColumn,
    column_lineage,
    output_columns,
    to_openlineage_facet_fields,
)

SCHEMAS = {
    "events": ["user_id", "item_id", "behavior", "ts"],
    "events_integrated": ["user_id", "item_id", "behavior", "ts"],
    "users": ["user_id", "age", "city"],
    "items": ["item_id", "category", "price"],
}

# Rows chosen so that every case returns rows: user 3 has no profile (left join), item 12 is
# bought once, timestamps straddle the WHERE bound.
FIXTURE = """
create table events(user_id integer, item_id integer, behavior varchar, ts timestamp);
insert into events values
    (1, 10, 'pv', '2024-01-01 10:00'), (1, 10, 'buy', '2024-01-02 11:00'),
    (1, 11, 'cart', '2024-01-03 09:00'), (2, 11, 'pv', '2024-01-02 08:00'),
    (2, 12, 'buy', '2024-01-04 12:00'), (3, 10, 'pv', '2024-01-05 00:00');
create table events_integrated as select * from events;
create table users(user_id integer, age integer, city varchar);
insert into users values (1, 34, 'Oslo'), (2, 27, 'Lima');
create table items(item_id integer, category varchar, price double);
insert into items values (10, 'books', 12.5), (11, 'games', 40.0), (12, 'books', 8.0);
"""

CASES = {
    "projection_rename": """
select user_id as uid, item_id, upper(behavior) as action, epoch(ts) as ts_epoch,
       strftime(ts, '%Y-%m-%d') as day
from events
    """,
    "star_through_ctes": """
with a as (
    select * from events
),
b as (
    select * from a where behavior = 'buy'
),
final as (
    select * from b
)
select * from final
    """,
    "alias_star_inner_join": """
with u as (
    select * from users
),
final as (
    select e.*, u.age from events e inner join u on e.user_id = u.user_id
)
select * from final
    """,
    "left_join_using": """
select * from events left join users using (user_id)
    """,
    "join_on_expression": """
select e.user_id, i.category, i.price * 2 as double_price
from events e left join items i on e.item_id = i.item_id
    """,
    "group_by_aggregates": """
with bought as (
    select e.user_id, i.item_id, i.price
    from events e join items i using (item_id)
    where e.behavior = 'buy'
),
final as (
    select user_id,
           sum(price) as spend,
           count(item_id) as n_items,
           count(*) as n_rows,
           avg(price) as avg_price
    from bought
    group by user_id
    having count(*) > 0
)
select * from final
    """,
    "case_when": """
select user_id,
       case when behavior = 'buy' then item_id
            when behavior = 'cart' then -item_id
            else 0 end as signed_item
from events
    """,
    "windows": """
select item_id,
       row_number() over (partition by category order by price desc) as price_rank,
       lag(price) over (partition by category order by price) as prev_price,
       sum(price) over (partition by category) as category_total,
       count(*) over w as category_size
from items
window w as (partition by category)
    """,
    "where_filter": """
select user_id, item_id
from events
where behavior = 'buy' and ts >= timestamp '2024-01-02'
    """,
    "aggregate_filter": """
select user_id,
       count(*) filter (where behavior = 'buy') as n_buys,
       max(ts) filter (where behavior = 'pv') as last_view
from events
group by user_id
    """,
    "qualify_latest": """
select user_id, item_id, ts
from events
qualify row_number() over (partition by user_id order by ts desc) = 1
    """,
    "union_all": """
select user_id, item_id, 'event' as origin from events
union all
select user_id, null, 'profile' from users
    """,
    "exclude_replace": """
with e as (
    select * exclude (ts) replace (upper(behavior) as behavior) from events
),
final as (
    select e.* exclude (item_id), u.city from e join users u using (user_id)
)
select * from final
    """,
    "duckdb_lists": """
select user_id,
       list(item_id order by ts) as items,
       string_agg(behavior, ',' order by ts) as behaviors,
       epoch(max(ts)) - epoch(min(ts)) as span_s
from events
group by all
    """,
    "subquery_order_alias": """
select s.uid, s.n
from (select user_id as uid, count(*) as n from events group by user_id) s
order by n desc, uid
    """,
    "unpivot_columns": """
with wide as (
    select user_id, age, length(city) as city_len from users
),
long as (
    unpivot wide on columns(* exclude (user_id)) into name feature value value
),
final as (
    select user_id, feature, value from long where value > 4
)
select * from final
    """,
    "unpivot_statement": """
unpivot items on item_id, price into name attribute value amount
    """,
    # The SQL standard's spelling (DuckDB and Spark both run it): the same query as
    # unpivot_columns, so the same edges.
    "unpivot_standard": """
with wide as (
    select user_id, age, length(city) as city_len from users
),
long as (
    select * from wide as w unpivot (value for feature in (age, city_len))
),
final as (
    select user_id, feature, value from long where value > 4
)
select * from final
    """,
    "example_step": """-- name: user_features
-- inputs: events_integrated
-- output: user_features
-- grain: one row per user
-- purpose: behaviour counts and recency per user
with events as (
    select * from events_integrated
),
agg as (
    select user_id,
           count(*) filter (where behavior = 'pv') as n_views,
           sum(case when behavior = 'buy' then 1 else 0 end) as n_buys,
           max(ts) as last_ts
    from events group by user_id
),
final as (
    select a.*, row_number() over (order by n_buys desc) as buy_rank from agg a
)
select * from final
    """,
}

# Each edge as "TYPE SUBTYPE table.column ..." (sources sorted), " masking" appended when set.
EXPECTED = {
    "projection_rename": {
        "uid": ["DIRECT IDENTITY events.user_id"],
        "item_id": ["DIRECT IDENTITY events.item_id"],
        "action": ["DIRECT TRANSFORMATION events.behavior"],
        "ts_epoch": ["DIRECT TRANSFORMATION events.ts"],
        "day": ["DIRECT TRANSFORMATION events.ts"],
    },
    "star_through_ctes": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT FILTER events.behavior"],
        "item_id": ["DIRECT IDENTITY events.item_id", "INDIRECT FILTER events.behavior"],
        "behavior": ["DIRECT IDENTITY events.behavior", "INDIRECT FILTER events.behavior"],
        "ts": ["DIRECT IDENTITY events.ts", "INDIRECT FILTER events.behavior"],
    },
    "alias_star_inner_join": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT JOIN events.user_id users.user_id"],
        "item_id": ["DIRECT IDENTITY events.item_id", "INDIRECT JOIN events.user_id users.user_id"],
        "behavior": [
            "DIRECT IDENTITY events.behavior",
            "INDIRECT JOIN events.user_id users.user_id",
        ],
        "ts": ["DIRECT IDENTITY events.ts", "INDIRECT JOIN events.user_id users.user_id"],
        "age": ["DIRECT IDENTITY users.age", "INDIRECT JOIN events.user_id users.user_id"],
    },
    "left_join_using": {
        "user_id": [
            "DIRECT IDENTITY events.user_id users.user_id",
            "INDIRECT JOIN events.user_id users.user_id",
        ],
        "item_id": ["DIRECT IDENTITY events.item_id", "INDIRECT JOIN events.user_id users.user_id"],
        "behavior": [
            "DIRECT IDENTITY events.behavior",
            "INDIRECT JOIN events.user_id users.user_id",
        ],
        "ts": ["DIRECT IDENTITY events.ts", "INDIRECT JOIN events.user_id users.user_id"],
        "age": ["DIRECT IDENTITY users.age", "INDIRECT JOIN events.user_id users.user_id"],
        "city": ["DIRECT IDENTITY users.city", "INDIRECT JOIN events.user_id users.user_id"],
    },
    "join_on_expression": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT JOIN events.item_id items.item_id"],
        "category": [
            "DIRECT IDENTITY items.category",
            "INDIRECT JOIN events.item_id items.item_id",
        ],
        "double_price": [
            "DIRECT TRANSFORMATION items.price",
            "INDIRECT JOIN events.item_id items.item_id",
        ],
    },
    "group_by_aggregates": {
        "user_id": [
            "DIRECT IDENTITY events.user_id",
            "INDIRECT JOIN events.item_id items.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
        "spend": [
            "DIRECT AGGREGATION items.price",
            "INDIRECT JOIN events.item_id items.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
        "n_items": [
            "DIRECT AGGREGATION items.item_id masking",
            "INDIRECT JOIN events.item_id items.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
        "n_rows": [
            "INDIRECT JOIN events.item_id items.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
        "avg_price": [
            "DIRECT AGGREGATION items.price",
            "INDIRECT JOIN events.item_id items.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
    },
    "case_when": {
        "user_id": ["DIRECT IDENTITY events.user_id"],
        "signed_item": [
            "DIRECT TRANSFORMATION events.item_id",
            "INDIRECT CONDITIONAL events.behavior",
        ],
    },
    "windows": {
        "item_id": ["DIRECT IDENTITY items.item_id"],
        "price_rank": ["INDIRECT WINDOW items.category items.price"],
        "prev_price": [
            "DIRECT TRANSFORMATION items.price",
            "INDIRECT WINDOW items.category items.price",
        ],
        "category_total": ["DIRECT AGGREGATION items.price", "INDIRECT WINDOW items.category"],
        "category_size": ["INDIRECT WINDOW items.category"],
    },
    "where_filter": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT FILTER events.behavior events.ts"],
        "item_id": ["DIRECT IDENTITY events.item_id", "INDIRECT FILTER events.behavior events.ts"],
    },
    "aggregate_filter": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT GROUP_BY events.user_id"],
        "n_buys": ["INDIRECT GROUP_BY events.user_id", "INDIRECT FILTER events.behavior"],
        "last_view": [
            "DIRECT AGGREGATION events.ts",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT FILTER events.behavior",
        ],
    },
    "qualify_latest": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT FILTER events.ts events.user_id"],
        "item_id": ["DIRECT IDENTITY events.item_id", "INDIRECT FILTER events.ts events.user_id"],
        "ts": ["DIRECT IDENTITY events.ts", "INDIRECT FILTER events.ts events.user_id"],
    },
    "union_all": {
        "user_id": ["DIRECT IDENTITY events.user_id users.user_id"],
        "item_id": ["DIRECT IDENTITY events.item_id"],
        "origin": [],
    },
    "exclude_replace": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT JOIN events.user_id users.user_id"],
        "behavior": [
            "DIRECT TRANSFORMATION events.behavior",
            "INDIRECT JOIN events.user_id users.user_id",
        ],
        "city": ["DIRECT IDENTITY users.city", "INDIRECT JOIN events.user_id users.user_id"],
    },
    "duckdb_lists": {
        "user_id": ["DIRECT IDENTITY events.user_id", "INDIRECT GROUP_BY events.user_id"],
        "items": [
            "DIRECT AGGREGATION events.item_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT SORT events.ts",
        ],
        "behaviors": [
            "DIRECT AGGREGATION events.behavior",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT SORT events.ts",
        ],
        "span_s": ["DIRECT AGGREGATION events.ts", "INDIRECT GROUP_BY events.user_id"],
    },
    "subquery_order_alias": {
        "uid": [
            "DIRECT IDENTITY events.user_id",
            "INDIRECT GROUP_BY events.user_id",
            "INDIRECT SORT events.user_id",
        ],
        "n": ["INDIRECT GROUP_BY events.user_id", "INDIRECT SORT events.user_id"],
    },
    "unpivot_columns": {
        "user_id": ["DIRECT IDENTITY users.user_id", "INDIRECT FILTER users.age users.city"],
        # The unpivoted column names are data, not values copied from a column.
        "feature": ["INDIRECT FILTER users.age users.city"],
        "value": [
            "DIRECT IDENTITY users.age",
            "DIRECT TRANSFORMATION users.city",
            "INDIRECT FILTER users.age users.city",
        ],
    },
    "unpivot_standard": {
        "user_id": ["DIRECT IDENTITY users.user_id", "INDIRECT FILTER users.age users.city"],
        "feature": ["INDIRECT FILTER users.age users.city"],
        "value": [
            "DIRECT IDENTITY users.age",
            "DIRECT TRANSFORMATION users.city",
            "INDIRECT FILTER users.age users.city",
        ],
    },
    "unpivot_statement": {
        "category": ["DIRECT IDENTITY items.category"],
        "attribute": [],
        "amount": ["DIRECT IDENTITY items.item_id items.price"],
    },
    "example_step": {
        "user_id": [
            "DIRECT IDENTITY events_integrated.user_id",
            "INDIRECT GROUP_BY events_integrated.user_id",
        ],
        "n_views": [
            "INDIRECT GROUP_BY events_integrated.user_id",
            "INDIRECT FILTER events_integrated.behavior",
        ],
        "n_buys": [
            "INDIRECT GROUP_BY events_integrated.user_id",
            "INDIRECT CONDITIONAL events_integrated.behavior",
        ],
        "last_ts": [
            "DIRECT AGGREGATION events_integrated.ts",
            "INDIRECT GROUP_BY events_integrated.user_id",
        ],
        "buy_rank": [
            "INDIRECT GROUP_BY events_integrated.user_id",
            "INDIRECT WINDOW events_integrated.behavior",
        ],
    },
}


def _summary(lineage: dict[str, list[ColumnEdge]]) -> dict[str, list[str]]:
    """Render edges compactly, keeping their order, for exact comparison."""
    return {
        out: [" ".join([e.transformation_type, e.subtype,
                        *(f"{s.table}.{s.column}" for s in e.sources)]
                       + (["masking"] if e.masking else []))
              for e in edges]
        for out, edges in lineage.items()
    }


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect()
    con.execute(FIXTURE)
    yield con
    con.close()


@pytest.mark.parametrize("name", CASES)
def test_edges(name):
    assert _summary(column_lineage(CASES[name], SCHEMAS)) == EXPECTED[name]


@pytest.mark.parametrize("name", CASES)
def test_output_columns_match_duckdb(name, duck):
    cursor = duck.execute(CASES[name])
    assert output_columns(CASES[name], SCHEMAS) == [d[0] for d in cursor.description]
    assert cursor.fetchall(), "fixture rows should exercise the query"
    assert list(column_lineage(CASES[name], SCHEMAS)) == output_columns(CASES[name], SCHEMAS)


def test_example_step_edges_in_full():
    lineage = column_lineage(CASES["example_step"], SCHEMAS)
    user, behavior, ts = (
        SourceColumn("events_integrated", c) for c in ("user_id", "behavior", "ts"))
    assert lineage["last_ts"] == [
        ColumnEdge("last_ts", [ts], "DIRECT", "AGGREGATION", "MAX(events.ts)", False),
        ColumnEdge("last_ts", [user], "INDIRECT", "GROUP_BY", "GROUP BY events.user_id", False),
    ]
    assert lineage["user_id"][0] == ColumnEdge("user_id", [user], "DIRECT", "IDENTITY", "", False)
    assert lineage["buy_rank"][1] == ColumnEdge(
        "buy_rank", [behavior], "INDIRECT", "WINDOW",
        "ROW_NUMBER() OVER (ORDER BY a.n_buys DESC)", False,
    )
    assert lineage["n_views"][1].description == "COUNT(*) FILTER(WHERE events.behavior = 'pv')"


def test_join_edge_describes_the_join():
    edge = column_lineage(CASES["left_join_using"], SCHEMAS)["age"][1]
    assert (edge.subtype, edge.description) == (
        "JOIN", "LEFT JOIN users AS users ON events.user_id = users.user_id")


def test_deterministic():
    first = column_lineage(CASES["group_by_aggregates"], SCHEMAS)
    assert column_lineage(CASES["group_by_aggregates"], SCHEMAS) == first


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("select nope from events", "nope"),
        ("select e.nope from events e", "nope"),
        ("select s.missing from (select user_id from events) s", "missing"),
        ("with a as (select user_id from events) select a.ts from a", "ts"),
        ("select * from nope_table", "nope_table"),
        ("select e.user_id from events e join ghost g on e.user_id = g.user_id", "ghost"),
    ],
)
def test_unknown_names_raise(sql, match):
    with pytest.raises(ValueError, match=match):
        column_lineage(sql, SCHEMAS)


@pytest.mark.parametrize(
    ("sql", "match"),
    [
        ("select count(*) from events", "alias"),
        ("select * from events e join users u on e.user_id = u.user_id", "duplicate"),
        ("select 1 as a; select 2 as b", "one query"),
    ],
)
def test_untraceable_steps_raise(sql, match):
    with pytest.raises(ValueError, match=match):
        output_columns(sql, SCHEMAS)


def test_sources_keep_schema_spelling():
    lineage = column_lineage("select userid as uid from events", {"Events": ["UserId"]})
    assert lineage["uid"][0].sources == [SourceColumn("Events", "UserId")]


FACET_SQL = """
with seen as (
    select * from events where behavior <> 'pv'
)
select s.user_id, count(distinct i.category) as n_categories
from seen s join items i on s.item_id = i.item_id
where s.behavior = 'buy'
group by s.user_id
"""


def test_openlineage_facet_fields():
    fields = to_openlineage_facet_fields(
        column_lineage(FACET_SQL, SCHEMAS), "duckdb://features", {"events": "raw.events"})

    def field(name, col, *transformations):
        return {"namespace": "duckdb://features", "name": name, "field": col,
                "transformations": [{"type": t, "subtype": s, "description": d, "masking": m}
                                    for t, s, d, m in transformations]}

    join = ("INDIRECT", "JOIN", "JOIN items AS i ON s.item_id = i.item_id", False)
    # Two WHERE clauses filter on behavior: one transformation, both descriptions.
    where = ("INDIRECT", "FILTER", "WHERE events.behavior <> 'pv'; WHERE s.behavior = 'buy'", False)
    group = ("INDIRECT", "GROUP_BY", "GROUP BY s.user_id", False)
    assert fields == {
        "user_id": {"inputFields": [
            field("items", "item_id", join),
            field("raw.events", "behavior", where),
            field("raw.events", "item_id", join),
            field("raw.events", "user_id", ("DIRECT", "IDENTITY", "", False), group),
        ]},
        "n_categories": {"inputFields": [
            field("items", "category",
                  ("DIRECT", "AGGREGATION", "COUNT(DISTINCT i.category)", True)),
            field("items", "item_id", join),
            field("raw.events", "behavior", where),
            field("raw.events", "item_id", join),
            field("raw.events", "user_id", group),
        ]},
    }
    # The keys are the ones openlineage-python's generated facet classes take.
    for spec in fields.values():
        ol.Fields(inputFields=[
            ol.InputField(**{**f, "transformations": [ol.Transformation(**t)
                                                      for t in f["transformations"]]})
            for f in spec["inputFields"]
        ])
