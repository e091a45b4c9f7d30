with

source as (

    select * from {{ source('raw', 'tickets') }}

),

renamed as (

    select
        -- ids
        nullif(trim(ticket_id), '') as ticket_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(agent_id), '') as agent_id,

        -- contact
        {{ normalize_email('requester_email') }} as requester_email_normalized,

        -- codes
        nullif(lower(trim(channel)), '') as channel,
        nullif(lower(trim(priority)), '') as priority,
        nullif(lower(trim(category)), '') as category,
        nullif(lower(trim(status)), '') as status,

        -- timestamps (naive UTC)
        created_at,
        first_response_at,
        resolved_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'ticket_id') }}

)

select * from deduplicated
