-- name: item_features
-- inputs: items_clean, events_integrated, interactions_split
-- output: item_features
-- grain: one row per item
-- purpose: item attributes (category, brand, price, stock, attribute ids) with popularity and
--   conversion from training events only; items nobody touched get zero counts.
with training as (
    select e.*
    from events_integrated as e
    inner join interactions_split as s on e.event_id = s.event_id
    where s.split = 'train'
),

activity as (
    select
        item_id,
        count(*) as n_events,
        count(*) filter (where behavior = 'pv') as n_pv,
        count(*) filter (where behavior = 'cart') as n_cart,
        count(*) filter (where behavior = 'fav') as n_fav,
        count(*) filter (where behavior = 'buy') as n_buy,
        count(distinct user_id) as n_users
    from training
    group by item_id
),

joined as (
    select
        i.item_id,
        i.category_id,
        i.brand_id,
        i.price,
        i.price_imputed,
        i.stock,
        i.attributes,
        coalesce(a.n_events, 0) as n_events,
        coalesce(a.n_pv, 0) as n_pv,
        coalesce(a.n_cart, 0) as n_cart,
        coalesce(a.n_fav, 0) as n_fav,
        coalesce(a.n_buy, 0) as n_buy,
        coalesce(a.n_users, 0) as n_users
    from items_clean as i
    left join activity as a on i.item_id = a.item_id
),

final as (
    select
        *,
        n_buy / greatest(n_pv, 1) as conversion_rate,
        rank() over (order by n_events desc)::BIGINT as popularity_rank,
        percent_rank() over (partition by category_id order by price) as price_pct_in_category
    from joined
)

select * from final
