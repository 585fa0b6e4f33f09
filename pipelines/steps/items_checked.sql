-- name: items_checked
-- inputs: raw_items
-- output: items_checked
-- grain: one row per landed item row
-- purpose: flag item rows that cannot be used (missing_id, duplicate id) and item attributes that
--   are wrong but repairable: price missing, negative, or absurd (over 100x its category's median
--   or over 1e6), stock negative. Repairs happen in items_clean; nothing is dropped here.
--   landed_row is the row's position in the landed file (its source_row). The median is rounded
--   to 1e-4 (the engines interpolate an even count's two middle prices with different formulas,
--   which can differ in the last bit), written as round(x * 10000) / 10000: both engines round a
--   double to a whole number alike, while round(x, 4) rounds its decimal text on Spark.
with landed as (
    select
        source_row as landed_row,
        item_id,
        category_id,
        brand_id,
        price,
        stock,
        attributes
    from raw_items
),

category_prices as (
    select
        category_id,
        round(median(price) * 10000) / 10000 as median_price
    from landed
    where price > 0 and price < 1e6
    group by category_id
),

flagged as (
    select
        l.landed_row,
        l.item_id,
        l.category_id,
        l.brand_id,
        l.price,
        l.stock,
        l.attributes,
        case
            when l.price is null then 'missing_price'
            when l.price <= 0 then 'negative_price'
            when l.price > 1e6 or l.price > 100 * cp.median_price then 'absurd_price'
        end as price_issue,
        case when l.stock < 0 then 'negative_stock' end as stock_issue,
        cp.median_price as category_median_price,
        row_number() over (partition by l.item_id order by l.landed_row) as copy_no
    from landed as l
    left join category_prices as cp on l.category_id is not distinct from cp.category_id
),

final as (
    select
        landed_row,
        item_id,
        category_id,
        brand_id,
        price,
        stock,
        attributes,
        price_issue,
        stock_issue,
        category_median_price,
        case
            when item_id is null then 'missing_id'
            when copy_no > 1 then 'duplicate'
        end as reject_reason
    from flagged
)

select * from final
