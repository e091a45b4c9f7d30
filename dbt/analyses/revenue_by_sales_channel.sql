-- Question: Which sales channels bring the revenue and the margin, and how large are their orders?

select
    coalesce(channels.channel_name, orders.channel, 'unknown') as sales_channel,
    channels.channel_group,
    count(*) as orders,
    sum(orders.total_amount_usd) as revenue_usd,
    sum(orders.gross_margin_usd) as gross_margin_usd,
    round(sum(orders.gross_margin_usd) / nullif(sum(orders.total_amount_usd), 0), 3) as gross_margin_rate,
    round(avg(orders.total_amount_usd), 2) as average_order_value_usd

from marts.fct_orders as orders
left join marts.dim_channels as channels
    on orders.channel_id = channels.channel_id
where orders.is_revenue_generating
group by all
order by revenue_usd desc
