-- name: feature_selection
-- inputs: user_features, item_features
-- output: feature_selection
-- grain: one row per candidate feature
-- purpose: decide which numeric features the ranker may use: drop constant ones (one distinct
--   value), then of each pair correlated above 0.95 drop the one later in name order. Every
--   decision is a row with its reason and statistic. Correlations are rounded to 1e-9 before
--   they are compared or kept (as round(x * 1e9) / 1e9, which both engines compute alike): the
--   sums behind them run in an order that depends on the engine and its threads, and their last
--   bits with it. A pair whose values do not vary on the entities both have gets no correlation.
with user_wide as (
    select
        user_id as entity_id,
        n_events::DOUBLE as n_events,
        n_pv::DOUBLE as n_pv,
        n_cart::DOUBLE as n_cart,
        n_fav::DOUBLE as n_fav,
        n_buy::DOUBLE as n_buy,
        n_items::DOUBLE as n_items,
        n_categories::DOUBLE as n_categories,
        cart_rate::DOUBLE as cart_rate,
        buy_rate::DOUBLE as buy_rate,
        avg_price::DOUBLE as avg_price,
        active_days::DOUBLE as active_days
    from user_features
),

item_wide as (
    select
        item_id as entity_id,
        price::DOUBLE as price,
        stock::DOUBLE as stock,
        n_events::DOUBLE as n_events,
        n_pv::DOUBLE as n_pv,
        n_cart::DOUBLE as n_cart,
        n_fav::DOUBLE as n_fav,
        n_buy::DOUBLE as n_buy,
        n_users::DOUBLE as n_users,
        conversion_rate::DOUBLE as conversion_rate,
        price_pct_in_category::DOUBLE as price_pct_in_category
    from item_features
),

user_long as (
    select * from user_wide unpivot (value for feature in (
        n_events, n_pv, n_cart, n_fav, n_buy, n_items, n_categories,
        cart_rate, buy_rate, avg_price, active_days
    ))
),

item_long as (
    select * from item_wide unpivot (value for feature in (
        price, stock, n_events, n_pv, n_cart, n_fav, n_buy, n_users,
        conversion_rate, price_pct_in_category
    ))
),

long as (
    select 'user_features' as table_name, entity_id, feature, value
    from user_long
    union all
    select 'item_features' as table_name, entity_id, feature, value
    from item_long
),

spread as (
    select
        table_name,
        feature,
        count(distinct value) as n_distinct
    from long
    group by table_name, feature
),

pairs as (
    select
        a.table_name,
        a.feature as feature_a,
        b.feature as feature_b,
        case
            when min(a.value) < max(a.value) and min(b.value) < max(b.value)
                then round(corr(a.value, b.value) * 1000000000) / 1000000000
        end as correlation
    from long as a
    inner join long as b
        on a.table_name = b.table_name
        and a.entity_id = b.entity_id
        and a.feature < b.feature
    inner join spread as sa on a.table_name = sa.table_name and a.feature = sa.feature
    inner join spread as sb on b.table_name = sb.table_name and b.feature = sb.feature
    where sa.n_distinct > 1 and sb.n_distinct > 1
    group by a.table_name, a.feature, b.feature
),

redundant as (
    select
        table_name,
        feature_b as feature,
        min(feature_a) as twin,
        max(abs(correlation)) as correlation
    from pairs
    where abs(correlation) > 0.95
    group by table_name, feature_b
),

final as (
    select
        s.table_name,
        s.feature,
        s.n_distinct > 1 and r.feature is null as kept,
        case
            when s.n_distinct <= 1 then 'constant'
            when r.feature is not null then 'correlated with ' || r.twin
            else 'kept'
        end as reason,
        case when s.n_distinct <= 1 then s.n_distinct::DOUBLE else r.correlation end
            as statistic
    from spread as s
    left join redundant as r on s.table_name = r.table_name and s.feature = r.feature
    order by s.table_name, s.feature
)

select * from final
