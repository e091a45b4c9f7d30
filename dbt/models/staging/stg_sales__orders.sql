{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='order_id',
        on_schema_change='fail'
    )
}}

-- Deduplicated once, then each night only the new loads: a record loaded later replaces the
-- order it repeats or corrects (delete+insert on order_id), which is what deduplicate_latest
-- keeps in a full refresh, since every new load is stamped later than the loads the table holds.

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

        -- booleans: a refund or credit note is a record of its own, with status 'refunded' or a
        -- negative amount; cancelled, returned and 'unknown' orders (a blank status in an export
        -- that has statuses: it may hide a voided order) bring no revenue. A missing status (an
        -- export without statuses) counts.
        coalesce(lower(trim(status)) = 'refunded', false) or coalesce(total_amount < 0, false) as is_refund,
        not (
            coalesce(lower(trim(status)) = 'refunded', false)
            or coalesce(total_amount < 0, false)
            or coalesce(lower(trim(status)) in ('cancelled', 'returned', 'unknown'), false)
        ) as is_revenue_generating,

        -- what the record adds to revenue: the amount of an order that brings revenue, minus
        -- the amount of a refund (whatever sign the export gives it), nothing otherwise
        cast(
            case
                when coalesce(lower(trim(status)) in ('cancelled', 'returned'), false) then 0
                when coalesce(lower(trim(status)) = 'refunded', false) or total_amount < 0 then -abs(total_amount)
                -- a negative amount is a refund whatever its status; a positive one of unknown fate adds nothing
                when coalesce(lower(trim(status)) = 'unknown', false) then 0
                else total_amount
            end as decimal(18, 2)
        ) as net_revenue_usd,

        -- timestamps (naive UTC)
        ordered_at,

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

    {{ deduplicate_latest('renamed', 'order_id') }}

)

select
    *,
    {{ processing_stamp() }} as _processed_at  -- the run that wrote the row

from deduplicated
