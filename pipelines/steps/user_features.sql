-- name: user_features
-- inputs: events_integrated, interactions_split
-- output: user_features
-- grain: one row per user
-- purpose: behaviour counts, funnel rates, price level, recency and favourite category per user,
--   computed from training events only so that no validation or test event leaks into features.
--   avg_price is exact to 1e-6 whatever the engine or thread count: prices are summed as whole
--   hundredths of a cent (a sum of whole numbers is exact in any order), and the mean is rounded
--   half away from zero as round(x) / 1000000, which both engines compute alike.
with training as (
    select e.*
    from events_integrated as e
    inner join interactions_split as s on e.event_id = s.event_id
    where s.split = 'train'
),

counts as (
    select
        user_id,
        count(*) as n_events,
        count(*) filter (where behavior = 'pv') as n_pv,
        count(*) filter (where behavior = 'cart') as n_cart,
        count(*) filter (where behavior = 'fav') as n_fav,
        count(*) filter (where behavior = 'buy') as n_buy,
        count(distinct item_id) as n_items,
        count(distinct category_id) as n_categories,
        round(sum(round(price * 10000)) / nullif(count(price), 0) * 100) / 1000000
            as avg_price,
        min(ts) as first_ts,
        max(ts) as last_ts,
        count(distinct ts // 86400) as active_days
    from training
    group by user_id
),

category_counts as (
    select
        user_id,
        category_id,
        count(*) as n
    from training
    where category_id is not null
    group by user_id, category_id
),

top_category as (
    select
        user_id,
        category_id as top_category_id
    from category_counts
    qualify row_number() over (partition by user_id order by n desc, category_id) = 1
),

final as (
    select
        c.user_id,
        c.n_events,
        c.n_pv,
        c.n_cart,
        c.n_fav,
        c.n_buy,
        c.n_items,
        c.n_categories,
        c.n_cart / greatest(c.n_pv, 1) as cart_rate,
        c.n_buy / greatest(c.n_pv, 1) as buy_rate,
        c.avg_price,
        c.first_ts,
        c.last_ts,
        c.active_days,
        t.top_category_id
    from counts as c
    left join top_category as t on c.user_id = t.user_id
)

select * from final
