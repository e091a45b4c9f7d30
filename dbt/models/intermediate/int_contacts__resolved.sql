-- One row per normalised email known to the sales system. An email that belongs to exactly one
-- customer resolves to that customer; an email shared by several customers (a household, a
-- company mailbox) is flagged ambiguous and resolves to no one.

with

customers as (

    select * from {{ ref('stg_sales__customers') }}

),

emails as (

    select
        email_normalized,
        count(distinct customer_id) as customer_count,
        min(customer_id) as first_customer_id

    from customers
    where email_normalized is not null
    group by email_normalized

),

resolved as (

    select
        email_normalized,
        case when customer_count = 1 then first_customer_id end as customer_id,
        customer_count,
        customer_count > 1 as is_ambiguous

    from emails

)

select * from resolved
