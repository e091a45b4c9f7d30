with

source as (

    select * from {{ source('raw', 'orders') }}

),

renamed as (

    select
        -- ids
        nullif(trim(order_id), '') as order_id,
        nullif(trim(customer_id), '') as customer_id,

        -- codes
        nullif(lower(trim(status)), '') as status,
        nullif(lower(trim(channel)), '') as channel,
        nullif(upper(trim(currency)), '') as currency,

        -- amounts
        cast(total_amount as decimal(18, 2)) as total_amount_usd,
        cast(discount_amount as decimal(18, 2)) as discount_amount_usd,

        -- booleans: cancelled and returned orders bring no revenue; an unknown status counts
        coalesce(nullif(lower(trim(status)), '') not in ('cancelled', 'returned'), true)
            as is_revenue_generating,

        -- timestamps (naive UTC)
        ordered_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'order_id') }}

)

select * from deduplicated
