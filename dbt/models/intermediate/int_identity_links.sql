{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='identity_id',
        on_schema_change='fail'
    )
}}

-- The customer every identity links to (int_identities__resolved), and when that link last
-- changed. Models that link records through an identity (fct_email_events: tens of millions of
-- events) reprocess the records of the identities whose link changed after they last wrote,
-- instead of comparing all their rows with the identities every night.
-- Incremental: a run writes the identities that are new or whose customer_id or match_rule
-- differs from what the table holds, stamped with the start of the dbt invocation. An identity
-- no longer produced by resolution keeps its last row (identities come from the records
-- themselves, which are never deleted from the raw tables).

with

identities as (

    select
        identity_id,
        identity_type,
        identity_key,
        customer_id,
        match_rule

    from {{ ref('int_identities__resolved') }}

)

{% if is_incremental() %}

, held as (

    select identity_id, customer_id, match_rule
    from {{ this }}

)

select
    identities.*,
    {{ processing_stamp() }} as _link_changed_at

from identities
left join held
    on identities.identity_id = held.identity_id
where
    held.identity_id is null
    or identities.customer_id is distinct from held.customer_id
    or identities.match_rule is distinct from held.match_rule

{% else %}

select
    *,
    {{ processing_stamp() }} as _link_changed_at

from identities

{% endif %}
