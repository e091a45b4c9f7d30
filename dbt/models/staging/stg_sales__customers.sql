with

records as (

    select * from {{ ref('stg_sales__customer_records') }}

),

deduplicated as (

    {{ deduplicate_latest('records', 'customer_id') }}

)

select * from deduplicated
