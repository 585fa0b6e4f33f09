-- name: events_clean
-- inputs: events_checked
-- output: events_clean
-- grain: one row per valid behaviour event
-- purpose: the events that passed every cleaning rule, typed, with a readable event time.
with passed as (
    select * from events_checked where reject_reason is null
),

final as (
    select
        source_row as event_id,
        user_id,
        item_id,
        behavior,
        ts,
        to_timestamp(ts) as event_time
    from passed
)

select * from final
