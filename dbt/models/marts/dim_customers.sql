with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

contacts as (

    select * from {{ ref('int_contacts__resolved') }}

),

customer_orders as (

    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as lifetime_order_count,
        sum(case when is_revenue_generating then total_amount_usd end) as lifetime_revenue_usd

    from orders
    group by customer_id

),

final as (

    select
        customers.customer_id,
        customers.email_normalized,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.company_name,
        customers.segment,
        customers.country_code,
        customers.city,
        customers.created_at,
        customer_orders.first_order_at,
        customer_orders.last_order_at,
        coalesce(customer_orders.lifetime_order_count, 0) as lifetime_order_count,
        cast(coalesce(customer_orders.lifetime_revenue_usd, 0) as decimal(18, 2)) as lifetime_revenue_usd,
        customers.is_derived_from_orders,
        coalesce(contacts.is_ambiguous, false) as has_shared_email

    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join contacts
        on customers.email_normalized = contacts.email_normalized

)

select * from final
