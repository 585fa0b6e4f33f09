-- name: feature_selection
-- inputs: user_features, item_features
-- output: feature_selection
-- grain: one row per candidate feature
-- purpose: decide which numeric features the ranker may use: drop constant ones (one distinct
--   value), then of each pair correlated above 0.95 drop the one later in name order. Every
--   decision is a row with its reason and statistic.
with user_long as (
    unpivot (
        select
            user_id as entity_id,
            n_events, n_pv, n_cart, n_fav, n_buy, n_items, n_categories,
            cart_rate, buy_rate, avg_price, active_days
        from user_features
    ) on columns(* exclude (entity_id)) into name feature value value
),

item_long as (
    unpivot (
        select
            item_id as entity_id,
            price, stock, n_events, n_pv, n_cart, n_fav, n_buy, n_users,
            conversion_rate, price_pct_in_category
        from item_features
    ) on columns(* exclude (entity_id)) into name feature value value
),

long as (
    select 'user_features' as table_name, entity_id, feature, value::DOUBLE as value
    from user_long
    union all
    select 'item_features' as table_name, entity_id, feature, value::DOUBLE as value
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
        corr(a.value, b.value) as correlation
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
