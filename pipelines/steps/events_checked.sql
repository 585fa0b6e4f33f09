-- name: events_checked
-- inputs: raw_events, raw_items
-- output: events_checked
-- grain: one row per landed event
-- purpose: type every landed event and give each rejected one exactly one reason. Rules, first
--   match wins: malformed_value (an id or time that is not an integer: an optional sign and ASCII
--   digits, spaces around allowed, within BIGINT; engines disagree on what else a cast accepts,
--   '12.5', '1e3', '0x10', so nothing else is cast), missing_id, bad_behavior
--   (not pv/cart/fav/buy after trimming and lower-casing), ts_out_of_range (outside the variables
--   min_ts..max_ts), unknown_item (not in the item catalogue), duplicate (same user, item,
--   behaviour and time as an earlier row), near_duplicate (same user, item and behaviour within
--   one second of the previous one). reject_reason is NULL for rows that pass.
with landed as (
    select
        source_row,
        user_id as raw_user_id,
        item_id as raw_item_id,
        behavior as raw_behavior,
        ts as raw_ts,
        case when regexp_matches(user_id, '^ *[+-]?[0-9]+ *$')
            then try_cast(user_id as BIGINT) end as user_id,
        case when regexp_matches(item_id, '^ *[+-]?[0-9]+ *$')
            then try_cast(item_id as BIGINT) end as item_id,
        lower(trim(behavior)) as behavior,
        case when regexp_matches(ts, '^ *[+-]?[0-9]+ *$') then try_cast(ts as BIGINT) end as ts
    from raw_events
),

catalogue as (
    select distinct item_id from raw_items where item_id is not null
),

ruled as (
    select
        l.*,
        case
            when (l.raw_user_id is not null and trim(l.raw_user_id) <> '' and l.user_id is null)
                or (l.raw_item_id is not null and trim(l.raw_item_id) <> '' and l.item_id is null)
                or (l.raw_ts is not null and l.ts is null)
                then 'malformed_value'
            when l.user_id is null or l.item_id is null or l.ts is null then 'missing_id'
            when l.behavior is null or l.behavior not in ('pv', 'cart', 'fav', 'buy')
                then 'bad_behavior'
            when l.ts < getvariable('min_ts') or l.ts > getvariable('max_ts')
                then 'ts_out_of_range'
            when c.item_id is null then 'unknown_item'
        end as rule_reason
    from landed as l
    left join catalogue as c on l.item_id = c.item_id
),

ordered as (
    select
        *,
        row_number() over (
            partition by user_id, item_id, behavior, ts order by source_row
        ) as copy_no,
        lag(ts) over (
            partition by user_id, item_id, behavior order by ts, source_row
        ) as previous_ts
    from ruled
    where rule_reason is null
),

deduplicated as (
    select
        source_row,
        case
            when copy_no > 1 then 'duplicate'
            when ts - previous_ts <= 1 then 'near_duplicate'
        end as duplicate_reason
    from ordered
),

final as (
    select
        r.source_row,
        r.raw_user_id,
        r.raw_item_id,
        r.raw_behavior,
        r.raw_ts,
        r.user_id,
        r.item_id,
        r.behavior,
        r.ts,
        coalesce(r.rule_reason, d.duplicate_reason) as reject_reason
    from ruled as r
    left join deduplicated as d on r.source_row = d.source_row
)

select * from final
