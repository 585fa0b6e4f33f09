-- name: events_integrated
-- inputs: events_clean, items_clean
-- output: events_integrated
-- grain: one row per valid behaviour event
-- purpose: each event with the attributes of its item (category, brand, price, stock).
with events as (
    select * from events_clean
),

items as (
    select * from items_clean
),

final as (
    select
        e.event_id,
        e.user_id,
        e.item_id,
        e.behavior,
        e.ts,
        e.event_time,
        i.category_id,
        i.brand_id,
        i.price,
        i.stock
    from events as e
    inner join items as i on e.item_id = i.item_id
)

select * from final
