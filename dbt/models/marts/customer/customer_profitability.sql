-- Profitability of every customer on or before the analysis date: net revenue (revenue-generating
-- orders minus refunds) and cost of goods of the revenue-generating orders (less the goods of
-- refund lines with known cost), a support cost proxy (tickets x var('support_cost_per_ticket_usd'))
-- and the margins, with deciles of the net margin among buying customers (10 = most profitable).
-- The cost of goods is only given when it is known for every line of every revenue-generating
-- order (null otherwise, e.g. without an order_lines export): a partial cost would overstate the
-- margin. Customers without orders are here too (revenue 0, support cost only).

with

customers as (

    select * from {{ ref('dim_customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

tickets as (

    select * from {{ ref('fct_tickets') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

customer_orders as (

    select
        orders.customer_id,
        count(*) filter (where orders.is_revenue_generating) as revenue_generating_orders,
        sum(orders.net_revenue_usd) as revenue_usd,
        sum(orders.cost_of_goods_usd) as cost_of_goods_usd,
        count(*) filter (where orders.is_revenue_generating)
            = count(orders.cost_of_goods_usd) filter (where orders.is_revenue_generating) as is_cost_of_goods_known

    from orders
    cross join analysis
    where
        (orders.is_revenue_generating or orders.is_refund)
        and orders.ordered_at < analysis.analysis_cutoff_at
    group by orders.customer_id

),

customer_tickets as (

    select
        tickets.customer_id,
        count(*) as ticket_count

    from tickets
    cross join analysis
    where
        tickets.customer_id is not null
        and tickets.created_at < analysis.analysis_cutoff_at
    group by tickets.customer_id

),

costed as (

    select
        customers.customer_id,
        coalesce(customer_orders.revenue_generating_orders, 0) as revenue_generating_orders,
        cast(coalesce(customer_orders.revenue_usd, 0) as decimal(18, 2)) as revenue_usd,
        cast(
            case
                when customer_orders.customer_id is null then 0
                when customer_orders.is_cost_of_goods_known then customer_orders.cost_of_goods_usd
            end as decimal(18, 2)
        ) as cost_of_goods_usd,
        coalesce(customer_tickets.ticket_count, 0) as ticket_count,
        cast(
            coalesce(customer_tickets.ticket_count, 0) * {{ var('support_cost_per_ticket_usd') }}
            as decimal(18, 2)
        ) as support_cost_usd

    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join customer_tickets
        on customers.customer_id = customer_tickets.customer_id

),

margins as (

    select
        *,
        cast(revenue_usd - cost_of_goods_usd as decimal(18, 2)) as gross_margin_usd,
        cast(revenue_usd - cost_of_goods_usd - support_cost_usd as decimal(18, 2)) as net_margin_usd

    from costed

),

final as (

    select
        customer_id,
        revenue_generating_orders,
        revenue_usd,
        cost_of_goods_usd,
        gross_margin_usd,
        ticket_count,
        support_cost_usd,
        net_margin_usd,
        case
            when revenue_generating_orders > 0 and net_margin_usd is not null
                then cast(ntile(10) over (
                    partition by revenue_generating_orders > 0 and net_margin_usd is not null
                    order by net_margin_usd, customer_id
                ) as integer)
        end as margin_decile

    from margins

)

select * from final
