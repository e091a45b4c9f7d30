{{ config(tags=['scored']) }}

-- One row per customer: the current state as of the analysis date, in one place. Orders and
-- margins (revenue-generating orders; profitability from customer_profitability), email
-- engagement, support, the latest touch per channel, the RFM segment, and what the Python
-- models published last (the ml.*_current tables): churn score and reasons, lifetime value,
-- the best next offer, the behavioural segment and the sentiment of the customer's feedback.
--
-- Tagged `scored`: the Dagster run builds it after the models have scored. In a plain
-- `dbt build` the ml views exist once a first `crm build` has run the models; until a view
-- exists the model still builds and its columns are null (macro current_scores).

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

churn_scores as (

    {{ current_scores('churn_scores_current', {
        'customer_id': 'varchar',
        'churn_status': 'varchar',
        'churn_probability': 'double',
        'churn_risk_band': 'varchar',
        'churn_reason_1': 'varchar',
        'churn_reason_2': 'varchar',
        'churn_reason_3': 'varchar',
        'model_version': 'varchar',
        'scored_at': 'timestamp',
    }) }}

),

clv_scores as (

    {{ current_scores('clv_scores_current', {
        'customer_id': 'varchar',
        'p_alive': 'double',
        'expected_purchases': 'double',
        'clv': 'double',
        'model_version': 'varchar',
    }) }}

),

next_best_offers as (

    {{ current_scores('next_best_offers_current', {
        'customer_id': 'varchar',
        'offer_rank': 'integer',
        'product_id': 'varchar',
        'reason': 'varchar',
        'model_version': 'varchar',
    }) }}

),

behaviour_segments as (

    {{ current_scores('customer_segments_current', {
        'customer_id': 'varchar',
        'segment_id': 'bigint',
        'segment_name': 'varchar',
        'segment_description': 'varchar',
        'model_version': 'varchar',
    }) }}

),

feedback_scores as (

    {{ current_scores('feedback_scores_current', {
        'customer_id': 'varchar',
        'occurred_at': 'timestamp',
        'sentiment_score': 'double',
    }) }}

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

top_offers as (

    -- The customer's best offer: the row of offer rank 1 of the current run, with its product
    -- name from the catalogue (null when the product is no longer in it).
    select
        next_best_offers.customer_id,
        next_best_offers.product_id,
        products.product_name,
        next_best_offers.reason,
        next_best_offers.model_version

    from next_best_offers
    left join products
        on next_best_offers.product_id = products.product_id
    where next_best_offers.offer_rank = 1

),

customer_feedback as (

    -- Like every other "as of" column: feedback given on or before the analysis date only (the
    -- feedback model may have scored later items when CRM_ANALYSIS_DATE looks back in time).
    -- Items without text (tickets) have no sentiment and do not count.
    select
        feedback_scores.customer_id,
        avg(feedback_scores.sentiment_score) as average_feedback_sentiment

    from feedback_scores
    cross join analysis
    where
        feedback_scores.customer_id is not null
        and feedback_scores.occurred_at < analysis.analysis_cutoff_at
    group by feedback_scores.customer_id

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
        date_diff('day', cast(customer_orders.last_order_at as date), analysis.analysis_date) as recency_days,
        cast(
            {{ safe_divide('customer_orders.lifetime_revenue_usd', 'customer_orders.revenue_generating_orders') }}
            as decimal(18, 2)
        ) as average_order_value_usd,

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
        churn_scores.churn_status,
        churn_scores.churn_probability,
        churn_scores.churn_risk_band,
        churn_scores.churn_reason_1,
        churn_scores.churn_reason_2,
        churn_scores.churn_reason_3,
        churn_scores.model_version as churn_model_version,
        churn_scores.scored_at as churn_scored_at,

        -- lifetime value (only customers with a purchase are scored)
        cast(clv_scores.clv as decimal(18, 2)) as clv_usd,
        clv_scores.p_alive,
        clv_scores.expected_purchases as expected_purchases_next_12_months,
        clv_scores.model_version as clv_model_version,

        -- next best offer
        top_offers.product_id as next_best_offer_product_id,
        top_offers.product_name as next_best_offer_product_name,
        top_offers.reason as next_best_offer_reason,
        top_offers.model_version as next_best_offer_model_version,

        -- behavioural segment of the segmentation model; `segment` above is the commercial one
        behaviour_segments.segment_id as behaviour_segment_id,
        behaviour_segments.segment_name as behaviour_segment_name,
        behaviour_segments.segment_description as behaviour_segment_description,
        behaviour_segments.model_version as behaviour_segment_model_version,

        -- feedback
        customer_feedback.average_feedback_sentiment

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
    left join churn_scores
        on customers.customer_id = churn_scores.customer_id
    left join clv_scores
        on customers.customer_id = clv_scores.customer_id
    left join top_offers
        on customers.customer_id = top_offers.customer_id
    left join behaviour_segments
        on customers.customer_id = behaviour_segments.customer_id
    left join customer_feedback
        on customers.customer_id = customer_feedback.customer_id

)

select * from final
