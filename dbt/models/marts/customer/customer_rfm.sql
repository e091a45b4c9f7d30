-- Recency, frequency and monetary value of every customer with at least one revenue-generating
-- order placed on or before the analysis date, scored in quintiles and named by the rules of
-- the seed rfm_segments. Scoring (exactly):
--   recency_days    = days from the last order's date to analysis_date
--   frequency       = count of revenue-generating orders
--   monetary_usd    = their net revenue: sum(net_revenue_usd) of those orders and of the customer's
--                     refunds on or before the analysis date
--   recency_score   = ntile(5) over (order by recency_days desc, customer_id)   5 = most recent
--   frequency_score = ntile(5) over (order by frequency, customer_id)            5 = most orders
--   monetary_score  = ntile(5) over (order by monetary_usd, customer_id)         5 = most revenue
-- "On or before the analysis date" includes the whole analysis day:
-- cast(ordered_at as date) <= analysis_date.

with

orders as (

    select * from {{ ref('fct_orders') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

segments as (

    select * from {{ ref('rfm_segments') }}

),

customer_orders as (

    select
        orders.customer_id,
        analysis.analysis_date as as_of_date,
        {{ days_between(
            'cast(max(orders.ordered_at) filter (where orders.is_revenue_generating) as date)', 'analysis.analysis_date'
        ) }} as recency_days,
        count(*) filter (where orders.is_revenue_generating) as frequency,
        -- an order exported without an amount adds nothing (total_amount is optional)
        cast(coalesce(sum(orders.net_revenue_usd), 0) as decimal(18, 2)) as monetary_usd

    from orders
    cross join analysis
    where
        (orders.is_revenue_generating or orders.is_refund)
        and cast(orders.ordered_at as date) <= analysis.analysis_date
    group by orders.customer_id, analysis.analysis_date
    having count(*) filter (where orders.is_revenue_generating) > 0

),

scored as (

    select
        *,
        ntile(5) over (order by recency_days desc, customer_id) as recency_score,
        ntile(5) over (order by frequency, customer_id) as frequency_score,
        ntile(5) over (order by monetary_usd, customer_id) as monetary_score

    from customer_orders

),

matching_segments as (

    select
        scored.customer_id,
        segments.rfm_segment,
        row_number() over (
            partition by scored.customer_id
            order by segments.priority, segments.rfm_segment
        ) as segment_rank

    from scored
    inner join segments
        on
            scored.recency_score between segments.recency_score_min and segments.recency_score_max
            and scored.frequency_score between segments.frequency_score_min and segments.frequency_score_max
            and scored.monetary_score between segments.monetary_score_min and segments.monetary_score_max

),

segmented as (

    -- the first matching rule, by priority
    select
        customer_id,
        rfm_segment

    from matching_segments
    where segment_rank = 1

),

final as (

    select
        scored.customer_id,
        scored.as_of_date,
        scored.recency_days,
        scored.frequency,
        scored.monetary_usd,
        cast(scored.recency_score as integer) as recency_score,
        cast(scored.frequency_score as integer) as frequency_score,
        cast(scored.monetary_score as integer) as monetary_score,
        cast(scored.recency_score as string)
        || cast(scored.frequency_score as string)
        || cast(scored.monetary_score as string) as rfm_score,
        coalesce(segmented.rfm_segment, 'unclassified') as rfm_segment

    from scored
    left join segmented
        on scored.customer_id = segmented.customer_id

)

select * from final
