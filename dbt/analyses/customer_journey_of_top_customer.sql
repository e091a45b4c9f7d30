-- Question: What does the full interaction history of our top customer look like, across channels?
-- The latest 50 touchpoints (orders, emails, tickets, surveys, leads) of the customer with the most revenue.

with

top_customer as (

    select customer_id
    from marts.customer_360
    order by lifetime_revenue_usd desc, customer_id
    limit 1

)

select
    interactions.customer_id,
    interactions.occurred_at,
    interactions.interaction_channel,
    interactions.interaction_type,
    interactions.revenue_usd,
    interactions.satisfaction_score,
    interactions.customer_link_method

from marts.fct_interactions as interactions
inner join top_customer
    on interactions.customer_id = top_customer.customer_id
order by interactions.occurred_at desc, interactions.interaction_id
limit 50
