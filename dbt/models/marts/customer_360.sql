{{ config(tags=['scored']) }}

-- One row per customer: the current state as of the analysis date, in one place. Orders and
-- margins (revenue-generating orders; profitability from customer_profitability), email
-- engagement, support, the latest touch per channel, the RFM segment and the latest churn score
-- written by the Python models (source ml.churn_scores).
--
-- Tagged `scored`: the Dagster run builds it after the churn model has scored. In a plain
-- `dbt build`, ml.churn_scores exists once a first `crm build` has run the churn model; when it
-- does not exist yet the model still builds and the churn columns are null.

{%- set churn_scores_relation = source('ml', 'churn_scores') %}
{%- set churn_scores_exist = execute and adapter.get_relation(
    database=churn_scores_relation.database,
    schema=churn_scores_relation.schema,
    identifier=churn_scores_relation.identifier,
) is not none %}

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

    {% if churn_scores_exist -%}
    select
        customer_id,
        churn_probability,
        churn_risk_band,
        model_version,
        scored_at

    from {{ churn_scores_relation }}
    qualify row_number() over (
        partition by customer_id
        order by scored_at desc, as_of_date desc, model_version desc
    ) = 1
    {%- else -%}
    -- ml.churn_scores does not exist yet (the churn model has not run): no scores
    select
        cast(null as varchar) as customer_id,
        cast(null as double) as churn_probability,
        cast(null as varchar) as churn_risk_band,
        cast(null as varchar) as model_version,
        cast(null as timestamp) as scored_at

    where false
    {%- endif %}

),

customer_orders as (

    select
        orders.customer_id,
        count(*) as lifetime_order_count,
        count(*) filter (where orders.is_revenue_generating) as revenue_generating_orders,
        sum(case when orders.is_revenue_generating then orders.total_amount_usd end) as lifetime_revenue_usd,
        min(orders.ordered_at) as first_order_at,
        max(orders.ordered_at) as last_order_at

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
        churn_scores.churn_probability,
        churn_scores.churn_risk_band,
        churn_scores.model_version as churn_model_version,
        churn_scores.scored_at as churn_scored_at

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

)

select * from final
