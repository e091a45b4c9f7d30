{{
    config(
        materialized='incremental',
        incremental_strategy='merge',
        unique_key='interaction_id',
        on_schema_change='fail',
        merge_clauses={
            'when_matched': [
                {'action': 'delete', 'condition': 'DBT_INTERNAL_SOURCE.customer_id is null'},
                {'action': 'update', 'mode': 'by_name'},
            ],
            'when_not_matched': [
                {'action': 'insert', 'mode': 'by_name', 'condition': 'DBT_INTERNAL_SOURCE.customer_id is not null'},
            ],
        },
    )
}}

-- One row per touchpoint of a customer on any channel: orders, email events, tickets, survey
-- responses and leads (created, converted); touchpoints that resolve to no single customer are
-- left out (they stay in int_interactions__unioned, and in the bridge as unknown contacts).
-- Incremental (merge on interaction_id): a run reprocesses the touchpoints loaded since the
-- latest load the table holds (minus the lookback) and those whose customer link changed; a
-- touchpoint that no longer resolves to a customer (or no longer exists) is deleted, one that
-- newly resolves is inserted.

with

interactions as (

    select
        interaction_id,
        customer_id,
        interaction_channel,
        interaction_type,
        occurred_at,
        cast(occurred_at as date) as occurred_date,
        source_record_id,
        customer_link_method,
        revenue_usd,
        satisfaction_score,
        identity_id,
        _loaded_at

    from {{ ref('int_interactions__unioned') }}

)

{% if is_incremental() %}

, existing as (

    select
        interaction_id,
        customer_id,
        customer_link_method

    from {{ this }}

),

changed as (

    select interactions.interaction_id
    from interactions
    left join existing
        on interactions.interaction_id = existing.interaction_id
    where
        interactions._loaded_at >= {{ incremental_loaded_at_cutoff() }}
        -- newly linked
        or (existing.interaction_id is null and interactions.customer_id is not null)
        -- linked to someone else, or no longer linked (deleted by the merge)
        or (
            existing.interaction_id is not null
            and (
                interactions.customer_id is distinct from existing.customer_id
                or interactions.customer_link_method is distinct from existing.customer_link_method
            )
        )

),

vanished as (

    -- touchpoints the sources no longer produce (a lead whose conversion was taken back in a
    -- corrected export): sent with a null customer_id so that the merge deletes them
    select existing.interaction_id
    from existing
    left join interactions
        on existing.interaction_id = interactions.interaction_id
    where interactions.interaction_id is null

)

select * from interactions
where interaction_id in (select interaction_id from changed)

union all by name

select
    interaction_id,
    cast(null as varchar) as customer_id

from vanished

{% else %}

select * from interactions
where customer_id is not null

{% endif %}
