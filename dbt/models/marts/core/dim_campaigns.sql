-- One row per campaign: every campaign of the campaigns export, plus every campaign_id that
-- appears only in email events (derived, without attributes), so every email event's campaign
-- has a row here.

with

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

email_events as (

    select * from {{ ref('stg_marketing__email_events') }}

),

campaign_events as (

    select
        campaign_id,
        min(occurred_at) as first_email_event_at,
        max(occurred_at) as last_email_event_at,
        count(*) as email_event_count

    from email_events
    where campaign_id is not null
    group by campaign_id

),

all_campaigns as (

    select campaign_id from campaigns
    union
    select campaign_id from campaign_events

),

final as (

    select
        all_campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        case when campaigns.channel is not null then 'marketing:' || campaigns.channel end as channel_id,
        campaigns.target_segment,
        campaigns.offer_product_id,
        campaigns.started_at,
        campaigns.ended_at,
        {{ days_between('cast(campaigns.started_at as date)', 'cast(campaigns.ended_at as date)') }} + 1 as duration_days,
        campaigns.cost_usd,
        campaign_events.first_email_event_at,
        campaign_events.last_email_event_at,
        coalesce(campaign_events.email_event_count, 0) as email_event_count,
        campaigns.campaign_id is null as is_derived_from_email_events

    from all_campaigns
    left join campaigns
        on all_campaigns.campaign_id = campaigns.campaign_id
    left join campaign_events
        on all_campaigns.campaign_id = campaign_events.campaign_id
    where all_campaigns.campaign_id is not null

)

select * from final
