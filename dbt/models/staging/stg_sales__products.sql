with

source as (

    select * from {{ source('raw', 'products') }}

),

renamed as (

    select
        -- ids
        nullif(trim(product_id), '') as product_id,
        nullif(trim(sku), '') as sku,

        -- attributes
        nullif(trim(name), '') as product_name,
        nullif(lower(trim(category)), '') as category,

        -- amounts
        cast(list_price as decimal(18, 2)) as list_price_usd,
        cast(unit_cost as decimal(18, 2)) as unit_cost_usd,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'product_id') }}

)

select * from deduplicated
