{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='delete+insert',
        unique_key='order_line_id',
        on_schema_change='fail'
    )
}}

-- Incremental: a run reprocesses the lines whose line or product record was loaded after the
-- latest _loaded_at the table holds (macro incremental_loaded_at_cutoff); a product reloaded with
-- a new cost brings back every line of that product. A full refresh gives the same rows.

with

order_lines as (

    select * from {{ ref('stg_sales__order_lines') }}

),

products as (

    select * from {{ ref('stg_sales__products') }}

),

costed as (

    select
        order_lines.order_id || '-' || order_lines.line_number as order_line_id,
        order_lines.order_id,
        order_lines.line_number,
        order_lines.product_id,
        products.product_id is not null as is_product_known,
        order_lines.quantity,
        order_lines.unit_price_usd,
        order_lines.discount_amount_usd,
        products.unit_cost_usd,

        cast(
            order_lines.quantity * order_lines.unit_price_usd
            - coalesce(order_lines.discount_amount_usd, 0)
            as decimal(18, 2)
        ) as revenue_usd,

        -- null when the product (or its unit cost) is unknown
        cast(order_lines.quantity * products.unit_cost_usd as decimal(18, 2)) as cost_usd,

        -- the latest load of the records the row is built from (greatest skips nulls)
        greatest(order_lines._loaded_at, products._loaded_at) as _loaded_at

    from order_lines
    left join products
        on order_lines.product_id = products.product_id

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        is_product_known,
        quantity,
        unit_price_usd,
        discount_amount_usd,
        unit_cost_usd,
        revenue_usd,
        cost_usd,
        cast(revenue_usd - cost_usd as decimal(18, 2)) as gross_margin_usd,
        _loaded_at,
        {{ processing_stamp() }} as _processed_at

    from costed

)

select * from final
{% if is_incremental() %}
where _loaded_at > {{ incremental_loaded_at_cutoff() }}
{% endif %}
