-- Every record of every ticket the support exports delivered, not only the latest: the status
-- history the warehouse can see across re-exports (a ticket exported as solved and later
-- re-exported as open was reopened). Ordered like deduplicate_latest: by load time, then file
-- name, then line; version 1 is the first record seen.

with

source as (

    select * from {{ source('raw', 'tickets') }}

),

renamed as (

    select
        -- ids
        nullif(trim(ticket_id), '') as ticket_id,

        -- codes
        nullif(lower(trim(status)), '') as status,

        -- timestamps (naive UTC)
        resolved_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

versioned as (

    select
        *,
        row_number() over (
            partition by ticket_id
            order by _loaded_at nulls first, _source_file nulls first, _source_line nulls first
        ) as ticket_version

    from renamed
    where ticket_id is not null

)

select * from versioned
