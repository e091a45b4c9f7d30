{{ config(tags=['scored']) }}

-- What the Python models published last (the ml.*_current tables), one row per customer with
-- any score: churn status, probability and reasons; lifetime value; the best next offer (rank
-- 1); the behavioural segment; the average sentiment of the customer's feedback as of the
-- analysis date. customer_360 (and through it crm_sync_customers) reads the scores from here
-- only, so the marts never disagree on them.
--
-- Tagged `scored`: built after the models have scored. Before a model's first run its
-- ml.*_current table does not exist and its columns are null (macro current_scores).

with

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

churn_scores as (

    {{ current_scores('churn_scores_current', {
        'customer_id': 'string',
        'churn_status': 'string',
        'churn_probability': 'double',
        'churn_risk_band': 'string',
        'churn_reason_1': 'string',
        'churn_reason_2': 'string',
        'churn_reason_3': 'string',
        'model_version': 'string',
        'scored_at': 'timestamp',
    }) }}

),

clv_scores as (

    {{ current_scores('clv_scores_current', {
        'customer_id': 'string',
        'p_alive': 'double',
        'expected_purchases_next_365_days': 'double',
        'clv_next_365_days_usd': 'double',
        'model_version': 'string',
    }) }}

),

next_best_offers as (

    {{ current_scores('next_best_offers_current', {
        'customer_id': 'string',
        'offer_rank': 'integer',
        'product_id': 'string',
        'reason': 'string',
        'model_version': 'string',
    }) }}

),

behaviour_segments as (

    {{ current_scores('customer_segments_current', {
        'customer_id': 'string',
        'segment_id': 'bigint',
        'segment_name': 'string',
        'segment_description': 'string',
        'model_version': 'string',
    }) }}

),

feedback_scores as (

    {{ current_scores('feedback_scores_current', {
        'customer_id': 'string',
        'occurred_at': 'timestamp',
        'sentiment_score': 'double',
    }) }}

),

top_offers as (

    select * from next_best_offers
    where offer_rank = 1

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

scored_customers as (

    select customer_id from churn_scores
    union
    select customer_id from clv_scores
    union
    select customer_id from top_offers
    union
    select customer_id from behaviour_segments
    union
    select customer_id from customer_feedback

),

final as (

    select
        scored_customers.customer_id,

        -- churn
        churn_scores.churn_status,
        churn_scores.churn_probability,
        churn_scores.churn_risk_band,
        churn_scores.churn_reason_1,
        churn_scores.churn_reason_2,
        churn_scores.churn_reason_3,
        churn_scores.model_version as churn_model_version,
        churn_scores.scored_at as churn_scored_at,

        -- lifetime value (only customers with a purchase are scored)
        cast(clv_scores.clv_next_365_days_usd as decimal(18, 2)) as clv_usd,
        clv_scores.p_alive,
        clv_scores.expected_purchases_next_365_days as expected_purchases_next_12_months,
        clv_scores.model_version as clv_model_version,

        -- next best offer (rank 1)
        top_offers.product_id as next_best_offer_product_id,
        top_offers.reason as next_best_offer_reason,
        top_offers.model_version as next_best_offer_model_version,

        -- behavioural segment of the segmentation model
        behaviour_segments.segment_id as behaviour_segment_id,
        behaviour_segments.segment_name as behaviour_segment_name,
        behaviour_segments.segment_description as behaviour_segment_description,
        behaviour_segments.model_version as behaviour_segment_model_version,

        -- feedback
        customer_feedback.average_feedback_sentiment

    from scored_customers
    left join churn_scores
        on scored_customers.customer_id = churn_scores.customer_id
    left join clv_scores
        on scored_customers.customer_id = clv_scores.customer_id
    left join top_offers
        on scored_customers.customer_id = top_offers.customer_id
    left join behaviour_segments
        on scored_customers.customer_id = behaviour_segments.customer_id
    left join customer_feedback
        on scored_customers.customer_id = customer_feedback.customer_id
    where scored_customers.customer_id is not null

)

select * from final
