{{ config(tags=['scored']) }}

-- One row per customer: the current state as of the analysis date, in one place. Orders and
-- margins (revenue-generating orders; profitability from customer_profitability), email
-- engagement, support, the latest touch per channel, the RFM segment, and what the Python
-- models published last (int_customer_scores__current): churn score and reasons, lifetime
-- value, the best next offer, the behavioural segment and the sentiment of the customer's feedback.
--
-- Tagged `scored`: the Dagster run builds it after the models have scored. In a plain
-- `dbt build` the ml tables exist once a first `crm build` has run the models; until then
-- the score columns are null (macro current_scores, in int_customer_scores__current).

with

customers as (

    select * from {{ ref('dim_customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

profitability as (

    select * from {{ ref('customer_profitability') }}

),

rfm as (

    select * from {{ ref('customer_rfm') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

tickets as (

    select * from {{ ref('fct_tickets') }}

),

surveys as (

    select * from {{ ref('fct_survey_responses') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

scores as (

    select * from {{ ref('int_customer_scores__current') }}

),

products as (

    select * from {{ ref('dim_products') }}

),

customer_orders as (

    select
        orders.customer_id,
        count(*) filter (where not orders.is_refund) as lifetime_order_count,
        count(*) filter (where orders.is_revenue_generating) as revenue_generating_orders,
        sum(orders.net_revenue_usd) as lifetime_revenue_usd,
        min(orders.ordered_at) filter (where not orders.is_refund) as first_order_at,
        max(orders.ordered_at) filter (where not orders.is_refund) as last_order_at

    from orders
    cross join analysis
    where orders.ordered_at < analysis.analysis_cutoff_at
    group by orders.customer_id

),

customer_emails as (

    select
        email_events.customer_id,
        count(*) filter (where email_events.event_type = 'sent') as emails_sent,
        count(*) filter (where email_events.event_type = 'delivered') as emails_delivered,
        count(*) filter (where email_events.event_type = 'opened') as emails_opened,
        count(*) filter (where email_events.event_type = 'clicked') as emails_clicked,
        max(email_events.occurred_at) as last_email_at

    from email_events
    cross join analysis
    where
        email_events.customer_id is not null
        and email_events.occurred_at < analysis.analysis_cutoff_at
    group by email_events.customer_id

),

customer_tickets as (

    select
        tickets.customer_id,
        count(*) as ticket_count,
        count(*) filter (where tickets.is_open) as open_tickets,
        max(tickets.created_at) as last_ticket_at

    from tickets
    cross join analysis
    where
        tickets.customer_id is not null
        and tickets.created_at < analysis.analysis_cutoff_at
    group by tickets.customer_id

),

customer_surveys as (

    select
        surveys.customer_id,
        avg(surveys.satisfaction_score) as average_satisfaction_score,
        max(surveys.responded_at) as last_survey_at

    from surveys
    cross join analysis
    where
        surveys.customer_id is not null
        and surveys.responded_at < analysis.analysis_cutoff_at
    group by surveys.customer_id

),

final as (

    select
        customers.customer_id,
        analysis.analysis_date as as_of_date,
        customers.full_name,
        customers.email_normalized,
        customers.company_name,
        customers.segment,
        customers.country_code,
        customers.city,
        customers.is_derived_from_orders,

        -- orders
        coalesce(customer_orders.lifetime_order_count, 0) as lifetime_order_count,
        coalesce(customer_orders.revenue_generating_orders, 0) as revenue_generating_orders,
        cast(coalesce(customer_orders.lifetime_revenue_usd, 0) as decimal(18, 2)) as lifetime_revenue_usd,
        profitability.gross_margin_usd as lifetime_gross_margin_usd,
        profitability.net_margin_usd as lifetime_net_margin_usd,
        profitability.margin_decile,
        customer_orders.first_order_at,
        customer_orders.last_order_at,
        {{ days_between('cast(customer_orders.last_order_at as date)', 'analysis.analysis_date') }} as recency_days,
        {{ safe_divide_money('customer_orders.lifetime_revenue_usd', 'customer_orders.revenue_generating_orders') }}
            as average_order_value_usd,

        -- email engagement
        coalesce(customer_emails.emails_sent, 0) as emails_sent,
        coalesce(customer_emails.emails_delivered, 0) as emails_delivered,
        coalesce(customer_emails.emails_opened, 0) as emails_opened,
        coalesce(customer_emails.emails_clicked, 0) as emails_clicked,
        {{ safe_divide('customer_emails.emails_opened', 'customer_emails.emails_delivered') }} as email_open_rate,
        {{ safe_divide('customer_emails.emails_clicked', 'customer_emails.emails_delivered') }} as email_click_rate,

        -- support
        coalesce(customer_tickets.ticket_count, 0) as ticket_count,
        coalesce(customer_tickets.open_tickets, 0) as open_tickets,
        customer_surveys.average_satisfaction_score,

        -- last touch per channel
        customer_emails.last_email_at,
        customer_tickets.last_ticket_at,
        customer_surveys.last_survey_at,
        greatest(
            customer_orders.last_order_at,
            customer_emails.last_email_at,
            customer_tickets.last_ticket_at,
            customer_surveys.last_survey_at
        ) as last_touch_at,

        -- segments and scores
        rfm.rfm_score,
        rfm.rfm_segment,
        scores.churn_status,
        scores.churn_probability,
        scores.churn_risk_band,
        scores.churn_reason_1,
        scores.churn_reason_2,
        scores.churn_reason_3,
        scores.churn_model_version,
        scores.churn_scored_at,

        -- lifetime value (only customers with a purchase are scored)
        scores.clv_usd,
        scores.p_alive,
        scores.expected_purchases_next_12_months,
        scores.clv_model_version,

        -- next best offer, with its product name from the catalogue (null when the product is
        -- no longer in it)
        scores.next_best_offer_product_id,
        products.product_name as next_best_offer_product_name,
        scores.next_best_offer_reason,
        scores.next_best_offer_model_version,

        -- behavioural segment of the segmentation model; `segment` above is the commercial one
        scores.behaviour_segment_id,
        scores.behaviour_segment_name,
        scores.behaviour_segment_description,
        scores.behaviour_segment_model_version,

        -- feedback
        scores.average_feedback_sentiment

    from customers
    cross join analysis
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join profitability
        on customers.customer_id = profitability.customer_id
    left join rfm
        on customers.customer_id = rfm.customer_id
    left join customer_emails
        on customers.customer_id = customer_emails.customer_id
    left join customer_tickets
        on customers.customer_id = customer_tickets.customer_id
    left join customer_surveys
        on customers.customer_id = customer_surveys.customer_id
    left join scores
        on customers.customer_id = scores.customer_id
    left join products
        on scores.next_best_offer_product_id = products.product_id
)

select * from final
