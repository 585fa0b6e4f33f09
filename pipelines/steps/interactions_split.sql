-- name: interactions_split
-- inputs: events_integrated
-- output: interactions_split
-- grain: one row per valid behaviour event
-- purpose: leave-one-out split by time: per user, the last event is test, the second last is
--   validation, the rest train. Ties in time break by event id so the split is deterministic.
--   Users with fewer than three events keep everything in train.
with numbered as (
    select
        event_id,
        user_id,
        item_id,
        behavior,
        ts,
        row_number() over (partition by user_id order by ts, event_id)::BIGINT as seq_no,
        count(*) over (partition by user_id) as n_user_events
    from events_integrated
),

final as (
    select
        event_id,
        user_id,
        item_id,
        behavior,
        ts,
        seq_no,
        case
            when n_user_events < 3 then 'train'
            when seq_no = n_user_events then 'test'
            when seq_no = n_user_events - 1 then 'valid'
            else 'train'
        end as split
    from numbered
)

select * from final
