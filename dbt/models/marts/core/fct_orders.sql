{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='order_id',
        on_schema_change='fail'
    )
}}

-- One row per order, with its line totals. Incremental: a run rebuilds every order of each
-- customer with an order whose record, lines or line products were loaded after the latest
-- _loaded_at the table holds (macro incremental_loaded_at_cutoff). All of the customer's orders,
-- because is_first_order compares an order with the customer's others (a late record can be the
-- new first order), and both customers of an order whose customer_id was corrected. A full
-- refresh gives the same rows.

with

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

order_lines as (

    select * from {{ ref('int_order_lines__costed') }}

),

{% if is_incremental() %}

cutoff as (

    select {{ incremental_loaded_at_cutoff() }} as loaded_after

),

changed_orders as (

    select orders.order_id from orders cross join cutoff where orders._loaded_at > cutoff.loaded_after
    union
    select order_lines.order_id from order_lines cross join cutoff where order_lines._loaded_at > cutoff.loaded_after

),

changed_customers as (

    select orders.customer_id
    from orders
    inner join changed_orders on orders.order_id = changed_orders.order_id
    union
    select existing.customer_id
    from {{ this }} as existing
    inner join changed_orders on existing.order_id = changed_orders.order_id

),

orders_to_build as (

    select orders.*
    from orders
    where exists (
        -- `is not distinct from`: orders without a customer share one partition of is_first_order
        select 1 from changed_customers
        where changed_customers.customer_id is not distinct from orders.customer_id
    )

),

lines_to_build as (

    select order_lines.*
    from order_lines
    where order_lines.order_id in (select orders_to_build.order_id from orders_to_build)

),

{% else %}

orders_to_build as (

    select * from orders

),

lines_to_build as (

    select * from order_lines

),

{% endif %}

order_line_totals as (

    select
        order_id,
        count(*) as line_count,
        -- like the margin: only when the cost of every line is known
        case
            when count(*) = count(cost_usd) then sum(cost_usd)
        end as cost_of_goods_usd,
        -- a margin is only given when the cost of every line is known
        case
            when count(*) = count(gross_margin_usd) then sum(gross_margin_usd)
        end as gross_margin_usd,
        max(_loaded_at) as _loaded_at

    from lines_to_build
    group by order_id

),

final as (

    select
        orders_to_build.order_id,
        orders_to_build.customer_id,
        orders_to_build.ordered_at,
        cast(orders_to_build.ordered_at as date) as order_date,
        orders_to_build.status,
        orders_to_build.channel,
        orders_to_build.currency,
        orders_to_build.total_amount_usd,
        orders_to_build.discount_amount_usd,
        orders_to_build.is_revenue_generating,
        orders_to_build.is_refund,
        orders_to_build.net_revenue_usd,
        row_number() over (
            partition by orders_to_build.customer_id
            order by orders_to_build.ordered_at, orders_to_build.order_id
        ) = 1 as is_first_order,
        order_line_totals.line_count,
        cast(order_line_totals.gross_margin_usd as decimal(18, 2)) as gross_margin_usd,
        cast(order_line_totals.cost_of_goods_usd as decimal(18, 2)) as cost_of_goods_usd,
        case when orders_to_build.channel is not null then 'sales:' || orders_to_build.channel end as channel_id,
        -- greatest skips nulls: an order without lines has the order record's load time
        greatest(orders_to_build._loaded_at, order_line_totals._loaded_at) as _loaded_at,
        {{ processing_stamp() }} as _processed_at

    from orders_to_build
    left join order_line_totals
        on orders_to_build.order_id = order_line_totals.order_id

)

select * from final
