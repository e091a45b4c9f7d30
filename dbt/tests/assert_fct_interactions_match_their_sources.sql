{{ config(tags=['full_table_audit']) }}

-- The incremental fct_interactions holds exactly the touchpoints that resolve to a customer
-- today, with their current customer: rows that should have been inserted, re-linked or deleted
-- by an incremental run show up here. Compared by fingerprint in 256 buckets of the key (see
-- assert_fct_email_events_match_their_sources); returns the buckets that differ.

with

fact as (

    select
        interaction_id,
        customer_id,
        customer_link_method,
        interaction_type,
        occurred_at,
        revenue_usd,
        satisfaction_score

    from {{ ref('fct_interactions') }}

),

sources as (

    select
        interaction_id,
        customer_id,
        customer_link_method,
        interaction_type,
        occurred_at,
        revenue_usd,
        satisfaction_score

    from {{ ref('int_interactions__unioned') }}
    where customer_id is not null

    union all

    select
        'email-' || email_event_id as interaction_id,
        customer_id,
        customer_match_rule as customer_link_method,
        'email_' || coalesce(event_type, 'unknown') as interaction_type,
        occurred_at,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score

    from {{ ref('fct_email_events') }}
    where customer_id is not null

)

{{ compare_fingerprints('fact', 'sources', key='interaction_id', label='fct_interactions') }}
