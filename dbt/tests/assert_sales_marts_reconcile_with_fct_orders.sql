-- A reconciliation across tables, shown in Dagster as a check on sales_monthly.
{{ config(meta={'dagster': {'ref': {'name': 'sales_monthly'}}}) }}

-- sales_daily and sales_monthly count every order, every refund and every dollar of net revenue
-- of fct_orders placed on or before the analysis date, once. Returns a row per mart that differs.

with

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

orders as (

    select
        count(*) filter (where not is_refund) as orders,
        count(*) filter (where is_refund) as refunds,
        coalesce(sum(net_revenue_usd), 0) as revenue_usd

    from {{ ref('fct_orders') }}
    cross join analysis
    where ordered_at < analysis.analysis_cutoff_at

),

marts as (

    select
        'sales_daily' as mart,
        coalesce(sum(orders), 0) as orders,
        coalesce(sum(refunds), 0) as refunds,
        coalesce(sum(revenue_usd), 0) as revenue_usd
    from {{ ref('sales_daily') }}

    union all

    select 'sales_monthly', coalesce(sum(orders), 0), coalesce(sum(refunds), 0), coalesce(sum(revenue_usd), 0)
    from {{ ref('sales_monthly') }}

)

select
    marts.mart,
    marts.orders,
    orders.orders as fct_orders_orders,
    marts.refunds,
    orders.refunds as fct_orders_refunds,
    marts.revenue_usd,
    orders.revenue_usd as fct_orders_revenue_usd

from marts
cross join orders
where marts.orders != orders.orders or marts.refunds != orders.refunds or marts.revenue_usd != orders.revenue_usd
