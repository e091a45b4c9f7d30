-- Question: How does revenue develop month by month, and how many of the buyers are new versus returning?

select
    date_month,
    orders,
    revenue_usd,
    gross_margin_usd,
    average_order_value_usd,
    new_customers,
    returning_customers,
    round(
        returning_customers * 1.0 / nullif(new_customers + returning_customers, 0), 3
    ) as returning_share,
    round(
        (revenue_usd - lag(revenue_usd) over (order by date_month))
        / nullif(lag(revenue_usd) over (order by date_month), 0),
        3
    ) as revenue_growth_vs_previous_month

from marts.sales_monthly
order by date_month
