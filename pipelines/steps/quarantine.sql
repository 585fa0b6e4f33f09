-- name: quarantine
-- inputs: events_checked, items_checked
-- output: quarantine
-- grain: one row per rejected landed row
-- purpose: every rejected event or item row with its reason and original values, so nothing is
--   dropped silently. An item's price is given to 1e-4 (a JSON number as DECIMAL(38, 4); NULL past
--   1e34): engines write a double in JSON differently (150000000.0 or 1.5E8).
with rejected_events as (
    select
        'event' as entity,
        source_row as source_key,
        reject_reason as reason,
        to_json({
            'user_id': raw_user_id, 'item_id': raw_item_id,
            'behavior': raw_behavior, 'ts': raw_ts
        })::VARCHAR as original
    from events_checked
    where reject_reason is not null
),

rejected_items as (
    select
        'item' as entity,
        landed_row as source_key,
        reject_reason as reason,
        to_json({
            'item_id': item_id, 'category_id': category_id, 'brand_id': brand_id,
            'price': try_cast(price as DECIMAL(38, 4)), 'stock': stock
        })::VARCHAR as original
    from items_checked
    where reject_reason is not null
),

final as (
    select * from rejected_events
    union all
    select * from rejected_items
)

select * from final
