-- Question: Which sales channels bring the revenue and the margin, and how large are their orders?
-- Revenue is net of the refunds issued through the channel (fct_orders.net_revenue_usd).

select
    coalesce(channels.channel_name, orders.channel, 'unknown') as sales_channel,
    channels.channel_group,
    count(*) filter (where orders.is_revenue_generating) as orders,
    sum(orders.net_revenue_usd) as revenue_usd,
    -sum(orders.net_revenue_usd) filter (where orders.is_refund) as refunded_usd,
    sum(orders.gross_margin_usd) filter (where orders.is_revenue_generating) as gross_margin_usd,
    round(
        sum(orders.gross_margin_usd) filter (where orders.is_revenue_generating)
        / nullif(sum(orders.total_amount_usd) filter (where orders.is_revenue_generating), 0),
        3
    ) as gross_margin_rate,
    round(avg(orders.total_amount_usd) filter (where orders.is_revenue_generating), 2) as average_order_value_usd

from marts.fct_orders as orders
left join marts.dim_channels as channels
    on orders.channel_id = channels.channel_id
where orders.is_revenue_generating or orders.is_refund
group by all
order by revenue_usd desc
