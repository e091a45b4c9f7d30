with

source as (

    select * from {{ source('raw', 'campaigns') }}

),

renamed as (

    select
        -- ids
        nullif(trim(campaign_id), '') as campaign_id,
        nullif(trim(offer_product_id), '') as offer_product_id,

        -- attributes
        nullif(trim(name), '') as campaign_name,
        nullif(lower(trim(channel)), '') as channel,
        nullif(lower(trim(target_segment)), '') as target_segment,

        -- amounts
        cast(cost as decimal(18, 2)) as cost_usd,

        -- timestamps (naive UTC)
        started_at,
        ended_at,

        -- lineage
        _source_file,
        _source_line,
        _loaded_at

    from source

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'campaign_id') }}

)

select * from deduplicated
