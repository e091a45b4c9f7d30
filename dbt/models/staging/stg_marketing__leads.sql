with

source as (

    select * from {{ source('raw', 'leads') }}

),

renamed as (

    select
        -- ids
        nullif(trim(lead_id), '') as lead_id,

        -- contact
        {{ normalize_email('email') }} as email_normalized,
        nullif(trim(phone), '') as phone,
        {{ normalize_phone('phone') }} as phone_normalized,

        -- codes
        nullif(lower(trim(source.source)), '') as lead_source,
        nullif(lower(trim(status)), '') as status,

        -- booleans
        converted_at is not null as is_converted,

        -- timestamps (naive UTC)
        created_at,
        converted_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'lead_id') }}

)

select * from deduplicated
