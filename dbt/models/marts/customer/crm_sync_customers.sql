{{ config(tags=['scored']) }}

-- What the operational tools (email platform, CRM, service desk) receive about each customer:
-- one row per customer, contact fields plus the scores to act on, with flat, stable column
-- names meant to be mapped once in a reverse-ETL / sync job. Everything comes from
-- customer_360, which already joins the current model scores, so the two never disagree.
--
-- Tagged `scored`: built by the Dagster run after the models, like customer_360; before a
-- model's first run its columns are null.

with

customers as (

    select * from {{ ref('customer_360') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

unsubscribed as (

    -- An email platform must not mail these: anyone who unsubscribed by the analysis date.
    select distinct email_events.customer_id

    from email_events
    cross join analysis
    where
        email_events.event_type = 'unsubscribed'
        and email_events.customer_id is not null
        and email_events.occurred_at < analysis.analysis_cutoff_at

),

value_ranked as (

    -- CLV deciles among the scored customers only (10 = highest CLV); customer_id breaks ties
    -- so the tier of a customer does not depend on row order.
    select
        customer_id,
        case
            when clv_usd is not null
                then ntile(10) over (partition by clv_usd is null order by clv_usd, customer_id)
        end as clv_decile

    from customers

),

final as (

    select
        customers.customer_id,

        -- contact
        customers.email_normalized as email,
        unsubscribed.customer_id is not null as has_unsubscribed_from_email,
        customers.full_name,
        customers.company_name,
        customers.country_code,

        -- churn: probability, band and reason only for active customers (see churn_status)
        customers.churn_status,
        customers.churn_probability,
        customers.churn_risk_band,
        customers.churn_reason_1,

        -- value
        customers.clv_usd,
        -- A tier rather than the number for segmentation rules in the tools: top 20% of CLV high,
        -- next 30% medium, the rest low; null without a CLV.
        case
            when value_ranked.clv_decile >= 9 then 'high'
            when value_ranked.clv_decile >= 6 then 'medium'
            when value_ranked.clv_decile >= 1 then 'low'
        end as value_tier,
        customers.lifetime_revenue_usd,
        customers.last_order_at,
        customers.rfm_segment,

        -- next best offer
        customers.next_best_offer_product_id,
        customers.next_best_offer_product_name,
        customers.next_best_offer_reason,

        -- behavioural segment
        customers.behaviour_segment_id,
        customers.behaviour_segment_name,

        -- service
        customers.open_tickets,
        customers.average_feedback_sentiment,

        -- provenance: which analysis date and model runs the row reflects
        customers.as_of_date,
        customers.churn_model_version,
        customers.clv_model_version,
        customers.next_best_offer_model_version,
        customers.behaviour_segment_model_version

    from customers
    left join value_ranked
        on customers.customer_id = value_ranked.customer_id
    left join unsubscribed
        on customers.customer_id = unsubscribed.customer_id

)

select * from final
