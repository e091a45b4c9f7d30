{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='email_event_id',
        on_schema_change='fail'
    )
}}

-- depends_on: {{ ref('int_identity_links') }}

-- One row per email event (latest record per event_id), linked to the customer through the
-- identity of its recipient email (bridge_customer_identities). Events of unknown or shared
-- addresses are kept, with a null customer_id.
-- Incremental: a run reprocesses the events loaded since the latest load the table holds
-- (minus the lookback), plus the events whose recipient's link changed after the table was last
-- written (int_identity_links: a new or changed customer record can link, or unlink, events that
-- were not reloaded). Every row carries the run that wrote it (_processed_at), which is also how
-- fct_interactions finds the email events to take over.

with

email_events as (

    select * from {{ ref('stg_marketing__email_events') }}

),

identities as (

    select * from {{ ref('int_identities__resolved') }}
    where identity_type = 'email_contact'

),

{% if is_incremental() %}

relinked_emails as (

    -- identity_key of an email contact is the normalised email
    select identity_key as email_normalized
    from {{ ref('int_identity_links') }}
    where
        identity_type = 'email_contact'
        and _link_changed_at > {{ latest_processed_at() }}

),

events_to_link as (

    -- filtered before the join: the join then touches the new and relinked events only
    select * from email_events
    where
        _loaded_at > {{ incremental_loaded_at_cutoff() }}
        or email_normalized in (select email_normalized from relinked_emails)

),

{% else %}

events_to_link as (

    select * from email_events

),

{% endif %}

linked as (

    select
        events_to_link.email_event_id,
        identities.identity_id,
        identities.customer_id,
        coalesce(identities.match_rule, 'none') as customer_match_rule,
        coalesce(identities.match_rule, 'none') = 'none' as is_unknown_contact,
        events_to_link.email_normalized,
        events_to_link.campaign_id,
        events_to_link.event_type,
        events_to_link.occurred_at,
        cast(events_to_link.occurred_at as date) as occurred_date,
        events_to_link._loaded_at,
        {{ processing_stamp() }} as _processed_at

    from events_to_link
    left join identities
        on identities.identity_id = 'marketing:email_contact:' || events_to_link.email_normalized

)

select * from linked
