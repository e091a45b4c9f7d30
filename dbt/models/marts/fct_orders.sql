with

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

order_lines as (

    select * from {{ ref('int_order_lines__costed') }}

),

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
        end as gross_margin_usd

    from order_lines
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        cast(orders.ordered_at as date) as order_date,
        orders.status,
        orders.channel,
        orders.currency,
        orders.total_amount_usd,
        orders.discount_amount_usd,
        orders.is_revenue_generating,
        orders.is_refund,
        orders.net_revenue_usd,

        row_number() over (
            partition by orders.customer_id
            order by orders.ordered_at, orders.order_id
        ) = 1 as is_first_order,

        order_line_totals.line_count,
        cast(order_line_totals.gross_margin_usd as decimal(18, 2)) as gross_margin_usd,
        cast(order_line_totals.cost_of_goods_usd as decimal(18, 2)) as cost_of_goods_usd,
        case when orders.channel is not null then 'sales:' || orders.channel end as channel_id

    from orders
    left join order_line_totals
        on orders.order_id = order_line_totals.order_id

)

select * from final
