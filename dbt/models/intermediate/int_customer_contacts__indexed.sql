-- The contact points (normalised emails and phones) of the sales customers, one row per
-- distinct value: how many customers hold it and, when exactly one does, who. Identity
-- resolution looks contacts up here; a value held by several customers (a shared company
-- inbox, a household phone) is shared and never links anyone.

with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

contact_points as (

    select
        'email' as contact_type,
        email_normalized as contact_value,
        customer_id

    from customers
    where email_normalized is not null

    union all

    select
        'phone' as contact_type,
        phone_normalized as contact_value,
        customer_id

    from customers
    where phone_normalized is not null

),

indexed as (

    select
        contact_type || ':' || contact_value as contact_point_id,
        contact_type,
        contact_value,
        count(distinct customer_id) as customer_count,
        case when count(distinct customer_id) = 1 then min(customer_id) end as customer_id,
        count(distinct customer_id) > 1 as is_shared

    from contact_points
    group by contact_type, contact_value

)

select * from indexed
