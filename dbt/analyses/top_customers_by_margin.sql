-- Question: Who are our most profitable customers, after the cost of goods and of support?
-- Net margin = revenue - cost of goods - tickets x support cost per ticket, as of the analysis date.

select
    profitability.customer_id,
    customers.full_name,
    customers.company_name,
    customers.segment,
    profitability.revenue_generating_orders,
    profitability.revenue_usd,
    profitability.gross_margin_usd,
    profitability.ticket_count,
    profitability.support_cost_usd,
    profitability.net_margin_usd,
    profitability.margin_decile

from marts.customer_profitability as profitability
inner join marts.dim_customers as customers
    on profitability.customer_id = customers.customer_id
where profitability.net_margin_usd is not null
order by profitability.net_margin_usd desc, profitability.customer_id
limit 20
