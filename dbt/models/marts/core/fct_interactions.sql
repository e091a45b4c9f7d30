{{
    config(
        materialized=incremental_materialization(),
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
-- left out (they stay in int_interactions__unioned and fct_email_events, and in the bridge as
-- unknown contacts). The email channel comes from fct_email_events, where the events are already
-- linked to their customer: the largest join of the build is done once.
-- Incremental (merge on interaction_id): a run reprocesses the touchpoints loaded since the
-- latest load the table holds and those whose customer link changed; a touchpoint that no longer
-- resolves to a customer (or no longer exists) is deleted, one that newly resolves is inserted.
-- Email events are taken over from fct_email_events when it wrote them after this table last
-- took any (_processed_at): new, corrected and relinked events, without comparing tens of
-- millions of rows.

with

touchpoints as (

    -- orders, tickets, survey responses, leads
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
        _loaded_at,
        {{ processing_stamp() }} as _processed_at

    from {{ ref('int_interactions__unioned') }}

),

email_touchpoints as (

    select
        'email-' || email_event_id as interaction_id,
        customer_id,
        'email' as interaction_channel,
        'email_' || coalesce(event_type, 'unknown') as interaction_type,
        occurred_at,
        occurred_date,
        email_event_id as source_record_id,
        case when customer_id is not null then customer_match_rule end as customer_link_method,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score,
        identity_id,
        _loaded_at,
        {{ processing_stamp() }} as _processed_at,
        _processed_at as _email_processed_at

    from {{ ref('fct_email_events') }}

)

{% if is_incremental() %}

, existing as (

    select
        interaction_id,
        customer_id,
        customer_link_method

    from {{ this }}
    where interaction_channel != 'email'

),

changed as (

    select touchpoints.interaction_id
    from touchpoints
    left join existing
        on touchpoints.interaction_id = existing.interaction_id
    where
        touchpoints._loaded_at > {{ incremental_loaded_at_cutoff() }}
        -- newly linked
        or (existing.interaction_id is null and touchpoints.customer_id is not null)
        -- linked to someone else, or no longer linked (deleted by the merge)
        or (
            existing.interaction_id is not null
            and (
                touchpoints.customer_id is distinct from existing.customer_id
                or touchpoints.customer_link_method is distinct from existing.customer_link_method
            )
        )

),

vanished as (

    -- touchpoints the sources no longer produce (a lead whose conversion was taken back in a
    -- corrected export): sent with a null customer_id so that the merge deletes them
    select existing.interaction_id
    from existing
    left join touchpoints
        on existing.interaction_id = touchpoints.interaction_id
    where touchpoints.interaction_id is null

)

select * from touchpoints
where interaction_id in (select interaction_id from changed)

union all by name

select * except (_email_processed_at) from email_touchpoints
where _email_processed_at > {{ latest_processed_at(where="interaction_channel = 'email'") }}

union all by name

select
    interaction_id,
    cast(null as string) as customer_id

from vanished

{% else %}

select * from touchpoints
where customer_id is not null

union all

select * except (_email_processed_at) from email_touchpoints
where customer_id is not null

{% endif %}
