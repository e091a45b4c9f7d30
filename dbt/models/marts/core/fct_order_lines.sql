{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='order_line_id',
        on_schema_change='fail'
    )
}}

-- One row per order line with revenue, discount, cost of goods and gross margin. Incremental:
-- a run reprocesses the lines whose line, order or product record was loaded since the latest
-- load the table holds (minus the lookback, macro incremental_loaded_at_cutoff); a full refresh
-- gives the same rows.

with

order_lines as (

    select * from {{ ref('int_order_lines__costed') }}

),

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

final as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        order_lines.line_number,
        orders.customer_id,
        order_lines.product_id,
        orders.ordered_at,
        cast(orders.ordered_at as date) as order_date,
        order_lines.quantity,
        order_lines.unit_price_usd,
        order_lines.discount_amount_usd,
        order_lines.revenue_usd,
        order_lines.unit_cost_usd,
        order_lines.cost_usd,
        order_lines.gross_margin_usd,
        order_lines.is_product_known,
        cast(order_lines.quantity * order_lines.unit_price_usd as decimal(18, 2)) as gross_amount_usd,
        orders.is_revenue_generating,
        greatest(order_lines._loaded_at, orders._loaded_at) as _loaded_at,
        {{ processing_stamp() }} as _processed_at

    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id

)

select * from final
{% if is_incremental() %}
where _loaded_at > {{ incremental_loaded_at_cutoff() }}
{% endif %}
