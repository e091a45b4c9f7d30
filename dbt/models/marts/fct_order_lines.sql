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
        order_lines.is_product_known

    from order_lines
    left join orders
        on order_lines.order_id = orders.order_id

)

select * from final
