-- Question: Which customers with an open support ticket are most at risk of churning?
-- Highest churn probability first (customers not scored yet come last); call them first.

select
    customer_id,
    full_name,
    email_normalized,
    segment,
    open_tickets,
    last_ticket_at,
    average_satisfaction_score,
    churn_probability,
    churn_risk_band,
    rfm_segment,
    lifetime_revenue_usd,
    last_order_at

from marts.customer_360
where open_tickets > 0
order by churn_probability desc nulls last, lifetime_revenue_usd desc, customer_id
limit 50
