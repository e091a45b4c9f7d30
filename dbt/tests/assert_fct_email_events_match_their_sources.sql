-- The incremental fct_email_events holds exactly what its sources give now: one row per
-- deduplicated email event, linked to the customer its recipient resolves to today (an
-- incremental run that missed a re-link after new customer records would show up here).
-- Returns the differing rows.

with

fact as (

    select
        email_event_id,
        customer_id,
        customer_match_rule,
        campaign_id,
        event_type,
        occurred_at

    from {{ ref('fct_email_events') }}

),

sources as (

    select
        email_events.email_event_id,
        identities.customer_id,
        coalesce(identities.match_rule, 'none') as customer_match_rule,
        email_events.campaign_id,
        email_events.event_type,
        email_events.occurred_at

    from {{ ref('stg_marketing__email_events') }} as email_events
    left join {{ ref('int_identities__resolved') }} as identities
        on identities.identity_id = 'marketing:email_contact:' || email_events.email_normalized

),

only_in_fact as (

    select 'only in fct_email_events' as side, * from (select * from fact except select * from sources)

),

only_in_sources as (

    select 'missing from fct_email_events' as side, * from (select * from sources except select * from fact)

)

select * from only_in_fact
union all
select * from only_in_sources
