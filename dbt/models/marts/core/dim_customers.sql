-- One row per unified customer: the sales customer_id. Attributes come from the latest record
-- of the customers export (customers known only from orders have none), order history from the
-- orders export, lead attributes from the earliest lead resolved to the customer, and the
-- shared-contact flags from identity resolution.

with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

contacts as (

    select * from {{ ref('int_customer_contacts__indexed') }}

),

identities as (

    select * from {{ ref('int_identities__resolved') }}

),

leads as (

    select * from {{ ref('stg_marketing__leads') }}

),

customer_orders as (

    select
        customer_id,
        min(ordered_at) filter (where not is_refund) as first_order_at,
        max(ordered_at) filter (where not is_refund) as last_order_at,
        count(*) filter (where not is_refund) as lifetime_order_count,
        sum(net_revenue_usd) as lifetime_revenue_usd

    from orders
    group by customer_id

),

linked_identities as (

    select
        customer_id,
        count(*) as linked_identity_count

    from identities
    where
        customer_id is not null
        and identity_type != 'customer_record'
    group by customer_id

),

linked_leads as (

    select
        identities.customer_id,
        leads.lead_id,
        leads.lead_source,
        leads.created_at as lead_created_at,
        leads.converted_at as lead_converted_at,
        row_number() over (
            partition by identities.customer_id
            order by leads.created_at, leads.lead_id
        ) as lead_rank

    from identities
    inner join leads
        on identities.identity_key = leads.lead_id
    where
        identities.identity_type = 'lead'
        and identities.customer_id is not null

),

customer_leads as (

    -- the customer's first lead
    select * except (lead_rank)
    from linked_leads
    where lead_rank = 1

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
        coalesce(email_contacts.is_shared, false) as has_shared_email,
        customers.phone_normalized,
        coalesce(phone_contacts.is_shared, false) as has_shared_phone,
        nullif(concat_ws(' ', customers.first_name, customers.last_name), '') as full_name,
        least(customers.created_at, customer_orders.first_order_at, customer_leads.lead_created_at) as first_seen_at,
        customer_leads.lead_id as first_lead_id,
        customer_leads.lead_source,
        customer_leads.lead_created_at,
        customer_leads.lead_converted_at,
        coalesce(linked_identities.linked_identity_count, 0) as linked_identity_count

    from customers
    left join customer_orders
        on customers.customer_id = customer_orders.customer_id
    left join contacts as email_contacts
        on
            email_contacts.contact_type = 'email'
            and customers.email_normalized = email_contacts.contact_value
    left join contacts as phone_contacts
        on
            phone_contacts.contact_type = 'phone'
            and customers.phone_normalized = phone_contacts.contact_value
    left join customer_leads
        on customers.customer_id = customer_leads.customer_id
    left join linked_identities
        on customers.customer_id = linked_identities.customer_id

)

select * from final
