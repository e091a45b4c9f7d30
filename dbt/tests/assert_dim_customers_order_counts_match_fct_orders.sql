-- A reconciliation across tables, shown in Dagster as a check on dim_customers.
{{ config(meta={'dagster': {'ref': {'name': 'dim_customers'}}}) }}

-- Every order is counted once in the customer dimension: the sum of lifetime_order_count and
-- lifetime_revenue_usd over customers equals the order fact's count (refund records aside) and net
-- revenue (refunds taken off).

with

customers as (

    select
        coalesce(sum(lifetime_order_count), 0) as order_count,
        coalesce(sum(lifetime_revenue_usd), 0) as revenue_usd

    from {{ ref('dim_customers') }}

),

orders as (

    select
        count(*) filter (where not is_refund) as order_count,
        coalesce(sum(net_revenue_usd), 0) as revenue_usd

    from {{ ref('fct_orders') }}

)

select
    customers.order_count as customers_order_count,
    orders.order_count as orders_order_count,
    customers.revenue_usd as customers_revenue_usd,
    orders.revenue_usd as orders_revenue_usd

from customers
cross join orders
where
    customers.order_count != orders.order_count
    or customers.revenue_usd != orders.revenue_usd
