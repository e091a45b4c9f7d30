with

customers as (

    select * from {{ ref('stg_sales__customers') }}

),

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

exported_customers as (

    select
        customer_id,
        email_normalized,
        phone,
        phone_normalized,
        first_name,
        last_name,
        company_name,
        segment,
        country_code,
        city,
        created_at,
        false as is_derived_from_orders

    from customers

),

customers_only_in_orders as (

    -- a customer known only from their orders: no contact details
    select distinct
        orders.customer_id,
        cast(null as string) as email_normalized,
        cast(null as string) as phone,
        cast(null as string) as phone_normalized,
        cast(null as string) as first_name,
        cast(null as string) as last_name,
        cast(null as string) as company_name,
        cast(null as string) as segment,
        cast(null as string) as country_code,
        cast(null as string) as city,
        cast(null as timestamp) as created_at,
        true as is_derived_from_orders

    from orders
    left join customers
        on orders.customer_id = customers.customer_id
    where
        orders.customer_id is not null
        and customers.customer_id is null

),

unioned as (

    select * from exported_customers
    union all
    select * from customers_only_in_orders

)

select * from unioned
