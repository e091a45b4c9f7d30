{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='email_event_id',
        on_schema_change='fail'
    )
}}

-- The largest export (70M events at a million customers): deduplicated once, then each night
-- only the new loads. A record loaded later replaces the event it repeats or corrects
-- (delete+insert on email_event_id), which is what deduplicate_latest keeps in a full refresh:
-- every new load is stamped later than the loads the table holds.

with

source as (

    select * from {{ source('raw', 'email_events') }}

),

renamed as (

    select
        -- ids
        nullif(trim(event_id), '') as email_event_id,
        nullif(trim(campaign_id), '') as campaign_id,

        -- contact
        {{ normalize_email('email') }} as email_normalized,

        -- codes
        nullif(lower(trim(event_type)), '') as event_type,

        -- timestamps (naive UTC)
        occurred_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source
    {% if is_incremental() %}
    where _loaded_at > {{ incremental_loaded_at_cutoff() }}
    {% endif %}

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'email_event_id') }}

)

select
    *,
    {{ processing_stamp() }} as _processed_at  -- the run that wrote the row

from deduplicated
