-- name: items_clean
-- inputs: items_checked
-- output: items_clean
-- grain: one row per item
-- purpose: usable items with repaired attributes: a bad price becomes its category's median price
--   (price_imputed = true), a negative stock becomes NULL.
with usable as (
    select * from items_checked where reject_reason is null
),

final as (
    select
        item_id,
        category_id,
        brand_id,
        case when price_issue is null then price else category_median_price end as price,
        price_issue is not null as price_imputed,
        case when stock_issue is null then stock end as stock,
        attributes
    from usable
)

select * from final
