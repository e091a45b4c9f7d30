{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='email_event_id',
        on_schema_change='fail'
    )
}}

-- One row per email event (latest record per event_id), linked to the customer through the
-- identity of its recipient email (bridge_customer_identities). Events of unknown or shared
-- addresses are kept, with a null customer_id.
-- Incremental: a run reprocesses the events loaded since the latest load the table holds
-- (minus the lookback), plus the events whose recipient now resolves differently (a new or
-- changed customer record can link, or unlink, events that were not reloaded).

with

email_events as (

    select * from {{ ref('stg_marketing__email_events') }}

),

identities as (

    select * from {{ ref('int_identities__resolved') }}
    where identity_type = 'email_contact'

),

linked as (

    select
        email_events.email_event_id,
        identities.identity_id,
        identities.customer_id,
        coalesce(identities.match_rule, 'none') as customer_match_rule,
        coalesce(identities.match_rule, 'none') = 'none' as is_unknown_contact,
        email_events.email_normalized,
        email_events.campaign_id,
        email_events.event_type,
        email_events.occurred_at,
        cast(email_events.occurred_at as date) as occurred_date,
        email_events._loaded_at

    from email_events
    left join identities
        on identities.identity_id = 'marketing:email_contact:' || email_events.email_normalized

)

{% if is_incremental() %}

, existing_links as (

    select distinct
        identity_id,
        customer_id,
        customer_match_rule

    from {{ this }}
    where identity_id is not null

),

relinked_identities as (

    select existing_links.identity_id
    from existing_links
    inner join identities
        on existing_links.identity_id = identities.identity_id
    where
        existing_links.customer_id is distinct from identities.customer_id
        or existing_links.customer_match_rule is distinct from identities.match_rule

)

select * from linked
where
    _loaded_at > {{ incremental_loaded_at_cutoff() }}
    or identity_id in (select identity_id from relinked_identities)

{% else %}

select * from linked

{% endif %}
