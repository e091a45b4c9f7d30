{{ config(tags=['full_table_audit']) }}

-- The incremental fct_email_events holds exactly what its sources give now: one row per
-- deduplicated email event, linked to the customer its recipient resolves to today (an
-- incremental run that missed a re-link after new customer records would show up here).
-- Compared by fingerprint (row count and a sum of row hashes) in 256 buckets of the key, not
-- row by row: at a million customers both sides hold 70M rows, and a set difference of that
-- size costs minutes and gigabytes. Returns the buckets that differ; to see the rows of one,
-- run the two selects below with `where hash(email_event_id) % 256 = <bucket>` and EXCEPT.

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

)

{{ compare_fingerprints('fact', 'sources', key='email_event_id', label='fct_email_events') }}
