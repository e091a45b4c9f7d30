-- Question: How many customers are in each RFM segment, and how much revenue do they bring?

select
    rfm_segment,
    count(*) as customers,
    round(count(*) * 100.0 / sum(count(*)) over (), 1) as customer_share_pct,
    sum(monetary_usd) as revenue_usd,
    round(sum(monetary_usd) * 100.0 / sum(sum(monetary_usd)) over (), 1) as revenue_share_pct,
    round(avg(recency_days), 0) as average_recency_days,
    round(avg(frequency), 2) as average_orders

from marts.customer_rfm
group by rfm_segment
order by revenue_usd desc
