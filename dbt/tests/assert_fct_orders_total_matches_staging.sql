-- A reconciliation across tables, shown in Dagster as a check on fct_orders.
{{ config(meta={'dagster': {'ref': {'name': 'fct_orders'}}}) }}

-- The order fact neither loses nor multiplies orders: its count and total amount equal those of
-- the deduplicated staging orders. Returns a row (fails) when they differ.

with

fact as (

    select
        count(*) as order_count,
        coalesce(sum(total_amount_usd), 0) as total_amount_usd

    from {{ ref('fct_orders') }}

),

staging as (

    select
        count(*) as order_count,
        coalesce(sum(total_amount_usd), 0) as total_amount_usd

    from {{ ref('stg_sales__orders') }}

)

select
    fact.order_count as fact_order_count,
    staging.order_count as staging_order_count,
    fact.total_amount_usd as fact_total_amount_usd,
    staging.total_amount_usd as staging_total_amount_usd

from fact
cross join staging
where
    fact.order_count != staging.order_count
    or fact.total_amount_usd != staging.total_amount_usd
