-- One row per campaign (dim_campaigns): email delivery and engagement, last-touch conversions
-- and revenue, cost and ROI, counting events and orders on or before the analysis date.
--
-- Attribution (last touch): a revenue-generating order of a customer is attributed to the
-- campaign of that customer's most recent touch strictly before the order and at most
-- var('attribution_window_days') days before it. A touch is an email event of a type in
-- var('attribution_event_types') (default clicked and opened) that carries a campaign_id and
-- resolves to the customer. Ties at the same instant go to a click before an open, then to the
-- higher email_event_id. An order is attributed to at most one campaign.

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

attributed_orders as (

    select
        revenue_orders.order_id,
        revenue_orders.customer_id,
        revenue_orders.total_amount_usd,
        touches.campaign_id

    from revenue_orders
    inner join touches
        on
            revenue_orders.customer_id = touches.customer_id
            and touches.occurred_at < revenue_orders.ordered_at
            and touches.occurred_at >= revenue_orders.ordered_at - to_days(cast({{ var('attribution_window_days') }} as integer))
    qualify row_number() over (
        partition by revenue_orders.order_id
        order by
            touches.occurred_at desc,
            case touches.event_type when 'clicked' then 1 when 'opened' then 2 else 3 end,
            touches.email_event_id desc
    ) = 1

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
        {{ var('attribution_window_days') }} as attribution_window_days

    from campaigns
    left join engagement
        on campaigns.campaign_id = engagement.campaign_id
    left join conversions
        on campaigns.campaign_id = conversions.campaign_id

)

select * from final
