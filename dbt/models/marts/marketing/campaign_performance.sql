-- One row per campaign (dim_campaigns): email delivery and engagement, last-touch conversions
-- and revenue, cost and ROI, counting events and orders on or before the analysis date.
--
-- Attribution (last touch): a revenue-generating order of a customer is attributed to the
-- campaign of that customer's most recent touch strictly before the order and at most
-- var('attribution_window_days') days before it. A touch is an email event of a type in
-- var('attribution_event_types') (default clicked and opened) that carries a campaign_id and
-- resolves to the customer. Ties at the same instant go to a click before an open, then to the
-- higher email_event_id. An order is attributed to at most one campaign.
--
-- Last touch credits a campaign with orders that would have happened anyway. The measured lift
-- beside it compares the customers the campaign reached with comparable customers it did not
-- reach over the same window (see lift_population below), with a 95% interval.

{%- set event_types = var('attribution_event_types') %}

with

campaigns as (

    select * from {{ ref('dim_campaigns') }}

),

email_events as (

    select * from {{ ref('fct_email_events') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

campaign_events as (

    select email_events.*
    from email_events
    cross join analysis
    where
        email_events.campaign_id is not null
        and email_events.occurred_at < analysis.analysis_cutoff_at

),

engagement as (

    select
        campaign_id,
        count(*) filter (where event_type = 'sent') as sent,
        count(*) filter (where event_type = 'delivered') as delivered,
        count(*) filter (where event_type = 'bounced') as bounced,
        count(distinct case when event_type = 'opened' then email_normalized end) as unique_opens,
        count(distinct case when event_type = 'clicked' then email_normalized end) as unique_clicks,
        count(distinct case when event_type = 'unsubscribed' then email_normalized end) as unsubscribes

    from campaign_events
    group by campaign_id

),

touches as (

    select
        email_event_id,
        campaign_id,
        customer_id,
        event_type,
        occurred_at

    from campaign_events
    where
        customer_id is not null
        and event_type in (
            {%- for event_type in event_types %}'{{ event_type }}'{{ ', ' if not loop.last }}{% endfor -%}
        )

),

revenue_orders as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.total_amount_usd

    from orders
    cross join analysis
    where
        orders.is_revenue_generating
        and orders.ordered_at < analysis.analysis_cutoff_at

),

touched_orders as (

    select
        revenue_orders.order_id,
        revenue_orders.customer_id,
        revenue_orders.total_amount_usd,
        touches.campaign_id,
        row_number() over (
            partition by revenue_orders.order_id
            order by
                touches.occurred_at desc,
                case touches.event_type when 'clicked' then 1 when 'opened' then 2 else 3 end,
                touches.email_event_id desc
        ) as touch_rank

    from revenue_orders
    inner join touches
        on
            revenue_orders.customer_id = touches.customer_id
            and touches.occurred_at < revenue_orders.ordered_at
            and touches.occurred_at >= revenue_orders.ordered_at - {{ interval_days(var('attribution_window_days')) }}

),

attributed_orders as (

    -- the last touch before the order wins
    select
        order_id,
        customer_id,
        total_amount_usd,
        campaign_id

    from touched_orders
    where touch_rank = 1

),

-- Measured lift: who the campaign reached against comparable customers it did not reach.
-- Eligible for a campaign: a customer of its target segment (every customer when it names
-- none) who was on the mailing list when it started, i.e. had been sent an email before and had
-- not unsubscribed by then. Targeted: eligible and sent this campaign. Comparison group: the
-- other eligible customers. When campaigns go to a random share of a segment (a holdout), the
-- difference between the groups is the campaign's effect; otherwise it is an estimate that is
-- only as good as the groups are alike.
mailing_list as (

    select
        customer_id,
        min(occurred_at) filter (where event_type in ('sent', 'delivered')) as first_mailed_at,
        min(occurred_at) filter (where event_type = 'unsubscribed') as unsubscribed_at

    from email_events
    where customer_id is not null
    group by customer_id

),

campaign_recipients as (

    select distinct
        campaign_id,
        customer_id

    from campaign_events
    where customer_id is not null and event_type in ('sent', 'delivered')

),

lift_population as (

    select
        campaigns.campaign_id,
        mailing_list.customer_id,
        campaign_recipients.customer_id is not null as is_targeted

    from campaigns
    inner join customers
        on campaigns.target_segment is null or customers.segment = campaigns.target_segment
    inner join mailing_list
        on customers.customer_id = mailing_list.customer_id
    left join campaign_recipients
        on
            campaigns.campaign_id = campaign_recipients.campaign_id
            and mailing_list.customer_id = campaign_recipients.customer_id
    where
        mailing_list.first_mailed_at < campaigns.started_at
        and (mailing_list.unsubscribed_at is null or mailing_list.unsubscribed_at >= campaigns.started_at)

),

-- What the campaign asks for: orders containing its offer product (any revenue-generating
-- order when it promotes none), placed while it ran.
offer_product_orders as (

    select distinct
        order_id,
        product_id

    from order_lines
    where product_id in (select campaigns.offer_product_id from campaigns)

),

campaign_window_orders as (

    select
        campaigns.campaign_id,
        revenue_orders.customer_id,
        count(*) as offer_orders,
        sum(revenue_orders.total_amount_usd) as offer_order_revenue_usd

    from campaigns
    cross join analysis
    inner join revenue_orders
        on
            revenue_orders.ordered_at >= campaigns.started_at
            and revenue_orders.ordered_at <= coalesce(campaigns.ended_at, analysis.analysis_cutoff_at)
    left join offer_product_orders
        on
            revenue_orders.order_id = offer_product_orders.order_id
            and campaigns.offer_product_id = offer_product_orders.product_id
    where campaigns.offer_product_id is null or offer_product_orders.order_id is not null
    group by all

),

lift_outcomes as (

    select
        lift_population.campaign_id,
        lift_population.is_targeted,
        count(*) as customers,
        coalesce(sum(campaign_window_orders.offer_orders), 0) as offer_orders,
        -- exact decimal sums, made doubles only once summed: a float sum depends on the order rows
        -- arrive in, and an incremental night must give the same figures as a full refresh
        cast(coalesce(sum(campaign_window_orders.offer_order_revenue_usd), 0) as double) as revenue,
        cast(
            coalesce(
                sum(
                    cast(campaign_window_orders.offer_order_revenue_usd as decimal(18, 2))
                    * cast(campaign_window_orders.offer_order_revenue_usd as decimal(18, 2))
                ),
                0
            ) as double
        ) as revenue_squared

    from lift_population
    left join campaign_window_orders
        on
            lift_population.campaign_id = campaign_window_orders.campaign_id
            and lift_population.customer_id = campaign_window_orders.customer_id
    group by all

),

lift_groups as (

    select
        campaign_id,
        cast(sum(customers) filter (where is_targeted) as bigint) as targeted,
        cast(sum(customers) filter (where not is_targeted) as bigint) as comparison,
        cast(sum(offer_orders) filter (where is_targeted) as double) as targeted_orders,
        cast(sum(offer_orders) filter (where not is_targeted) as double) as comparison_orders,
        sum(revenue) filter (where is_targeted) as targeted_revenue,
        sum(revenue) filter (where not is_targeted) as comparison_revenue,
        -- sample variances of revenue per customer, from the sums and sums of squares (power(), not
        -- ^, which is exponentiation in DuckDB and a bitwise xor in Spark)
        (sum(revenue_squared) filter (where is_targeted) - power(sum(revenue) filter (where is_targeted), 2) / targeted)
            / nullif(targeted - 1, 0) as targeted_variance,
        (
            sum(revenue_squared) filter (where not is_targeted)
            - power(sum(revenue) filter (where not is_targeted), 2) / comparison
        ) / nullif(comparison - 1, 0) as comparison_variance

    from lift_outcomes
    group by campaign_id

),

lift_estimates as (

    select
        campaign_id,
        targeted as lift_targeted_customers,
        comparison as lift_comparison_customers,
        targeted_orders / targeted as targeted_offer_order_rate,
        comparison_orders / comparison as comparison_offer_order_rate,
        (targeted_orders / targeted) / nullif(comparison_orders / comparison, 0) as estimated_lift_multiplier,
        -- what the targeted customers spent, minus what they would have spent at the comparison
        -- group's rate
        targeted * (targeted_revenue / targeted - comparison_revenue / comparison) as incremental_revenue,
        -- the standard error of that difference of two means (Welch), scaled to the targeted group;
        -- greatest() absorbs rounding that would make a zero variance slightly negative
        targeted * sqrt(
            greatest(targeted_variance, 0) / targeted + greatest(comparison_variance, 0) / comparison
        ) as incremental_revenue_standard_error

    from lift_groups
    where targeted >= 2 and comparison >= 2

),

conversions as (

    select
        campaign_id,
        count(*) as conversions,
        count(distinct customer_id) as converted_customers,
        sum(total_amount_usd) as attributed_revenue_usd

    from attributed_orders
    group by campaign_id

),

final as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.target_segment,
        campaigns.offer_product_id,
        campaigns.started_at,
        campaigns.ended_at,
        coalesce(engagement.sent, 0) as sent,
        coalesce(engagement.delivered, 0) as delivered,
        coalesce(engagement.bounced, 0) as bounced,
        coalesce(engagement.unique_opens, 0) as unique_opens,
        coalesce(engagement.unique_clicks, 0) as unique_clicks,
        coalesce(engagement.unsubscribes, 0) as unsubscribes,
        {{ safe_divide('engagement.unique_opens', 'engagement.delivered') }} as open_rate,
        {{ safe_divide('engagement.unique_clicks', 'engagement.delivered') }} as click_rate,
        {{ safe_divide('engagement.unique_clicks', 'engagement.unique_opens') }} as click_to_open_rate,
        {{ safe_divide('engagement.bounced', 'engagement.sent') }} as bounce_rate,
        {{ safe_divide('engagement.unsubscribes', 'engagement.delivered') }} as unsubscribe_rate,
        coalesce(conversions.conversions, 0) as conversions,
        coalesce(conversions.converted_customers, 0) as converted_customers,
        cast(coalesce(conversions.attributed_revenue_usd, 0) as decimal(18, 2)) as attributed_revenue_usd,
        campaigns.cost_usd,
        {{ safe_divide('coalesce(conversions.attributed_revenue_usd, 0) - campaigns.cost_usd', 'campaigns.cost_usd') }}
            as roi,
        {{ var('attribution_window_days') }} as attribution_window_days,
        coalesce(lift_estimates.lift_targeted_customers, 0) as lift_targeted_customers,
        coalesce(lift_estimates.lift_comparison_customers, 0) as lift_comparison_customers,
        lift_estimates.targeted_offer_order_rate,
        lift_estimates.comparison_offer_order_rate,
        lift_estimates.estimated_lift_multiplier,
        cast(lift_estimates.incremental_revenue as decimal(18, 2)) as incremental_revenue_usd,
        cast(lift_estimates.incremental_revenue - 1.96 * lift_estimates.incremental_revenue_standard_error as decimal(18, 2))
            as incremental_revenue_low_usd,
        cast(lift_estimates.incremental_revenue + 1.96 * lift_estimates.incremental_revenue_standard_error as decimal(18, 2))
            as incremental_revenue_high_usd,
        {{ safe_divide('lift_estimates.incremental_revenue - campaigns.cost_usd', 'campaigns.cost_usd') }}
            as incremental_roi

    from campaigns
    left join engagement
        on campaigns.campaign_id = engagement.campaign_id
    left join conversions
        on campaigns.campaign_id = conversions.campaign_id
    left join lift_estimates
        on campaigns.campaign_id = lift_estimates.campaign_id

)

select * from final
