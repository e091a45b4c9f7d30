with

products as (

    select * from {{ ref('stg_sales__products') }}

),

final as (

    select
        product_id,
        sku,
        product_name,
        category,
        list_price_usd,
        unit_cost_usd

    from products

)

select * from final
