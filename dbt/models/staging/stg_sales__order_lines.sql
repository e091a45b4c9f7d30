with

source as (

    select * from {{ source('raw', 'order_lines') }}

),

renamed as (

    select
        -- ids
        nullif(trim(order_id), '') as order_id,
        line_number,
        nullif(trim(product_id), '') as product_id,

        -- quantities and amounts
        quantity,
        cast(unit_price as decimal(18, 2)) as unit_price_usd,
        cast(discount_amount as decimal(18, 2)) as discount_amount_usd,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'order_id, line_number') }}

)

select * from deduplicated
