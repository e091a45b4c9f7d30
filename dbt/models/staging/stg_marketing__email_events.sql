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

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'email_event_id') }}

)

select * from deduplicated
