{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key=['order_id', 'line_number'],
        on_schema_change='fail'
    )
}}

-- Deduplicated once, then each night only the new loads: a record loaded later replaces the
-- line it repeats or corrects (delete+insert on order_id, line_number), which is what
-- deduplicate_latest keeps in a full refresh, since every new load is stamped later than the
-- loads the table holds.

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
    {% if is_incremental() %}
    where _loaded_at > {{ incremental_loaded_at_cutoff() }}
    {% endif %}

),

deduplicated as (

    {{ deduplicate_latest('renamed', 'order_id, line_number') }}

)

select
    *,
    {{ processing_stamp() }} as _processed_at  -- the run that wrote the row

from deduplicated
