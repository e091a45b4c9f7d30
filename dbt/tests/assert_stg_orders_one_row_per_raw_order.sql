-- Deduplication keeps exactly one record per order of the raw export: the staging row count
-- equals the number of distinct (trimmed, non-blank) order ids in raw.orders.

with

raw_orders as (

    select count(distinct nullif(trim(order_id), '')) as order_count
    from {{ source('raw', 'orders') }}

),

staging as (

    select count(*) as order_count
    from {{ ref('stg_sales__orders') }}

)

select
    raw_orders.order_count as raw_order_count,
    staging.order_count as staging_order_count

from raw_orders
cross join staging
where raw_orders.order_count != staging.order_count
