{{ config(materialized='table') }}

-- Identity resolution: one row per source identity, linked to the unified customer (the sales
-- customer_id) by the first rule that finds exactly one customer:
--   1. customer_id: the record carries a customer_id the sales system knows (sales customer
--      records themselves; tickets whose customer_id is filled in);
--   2. email: its normalised email (trim + lower) belongs to exactly one customer;
--   3. phone: its normalised phone (normalize_phone) belongs to exactly one customer.
-- When no rule finds exactly one customer but a rule finds several (a shared inbox, a household
-- phone), the identity is ambiguous: it is not merged into anyone (customer_id null) and
-- match_rule names the first rule that found several. Nothing found: match_rule 'none', an
-- unknown contact that stays visible here (prospects, people writing from another address).
-- A sales customer record always resolves to itself; it is flagged ambiguous when its email or
-- phone is also held by another customer (so every shared address shows up flagged here).
--
-- Source identities:
--   sales:customer_record:<customer_id>       every customer (also those known only from orders)
--   marketing:email_contact:<email>           every normalised recipient of the email events
--   marketing:lead:<lead_id>                  every lead (email and phone)
--   support:ticket_requester:<ticket_id>      the requester of every ticket (the support desk
--                                             has no requester id: a ticket's customer_id and
--                                             email can differ from ticket to ticket)

with

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

contacts as (

    select * from {{ ref('int_customer_contacts__indexed') }}

),

email_events as (

    select * from {{ ref('stg_marketing__email_events') }}

),

leads as (

    select * from {{ ref('stg_marketing__leads') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

customer_records as (

    select
        'sales' as source_system,
        'customer_record' as identity_type,
        customer_id as identity_key,
        customer_id as source_customer_id,
        email_normalized,
        phone_normalized,
        1 as source_record_count,
        created_at as first_seen_at,
        created_at as last_seen_at

    from customers

),

email_contacts as (

    select
        'marketing' as source_system,
        'email_contact' as identity_type,
        email_normalized as identity_key,
        cast(null as string) as source_customer_id,
        email_normalized,
        cast(null as string) as phone_normalized,
        count(*) as source_record_count,
        min(occurred_at) as first_seen_at,
        max(occurred_at) as last_seen_at

    from email_events
    where email_normalized is not null
    group by email_normalized

),

lead_records as (

    select
        'marketing' as source_system,
        'lead' as identity_type,
        lead_id as identity_key,
        cast(null as string) as source_customer_id,
        email_normalized,
        phone_normalized,
        1 as source_record_count,
        created_at as first_seen_at,
        coalesce(converted_at, created_at) as last_seen_at

    from leads

),

ticket_requesters as (

    select
        'support' as source_system,
        'ticket_requester' as identity_type,
        ticket_id as identity_key,
        customer_id as source_customer_id,
        requester_email_normalized as email_normalized,
        cast(null as string) as phone_normalized,
        1 as source_record_count,
        created_at as first_seen_at,
        created_at as last_seen_at

    from tickets

),

identities as (

    select * from customer_records
    union all
    select * from email_contacts
    union all
    select * from lead_records
    union all
    select * from ticket_requesters

),

candidates as (

    select
        identities.*,
        known_customers.customer_id as customer_id_match,
        coalesce(email_contacts.customer_count, 0) as email_candidate_count,
        email_contacts.customer_id as email_match,
        coalesce(phone_contacts.customer_count, 0) as phone_candidate_count,
        phone_contacts.customer_id as phone_match

    from identities
    left join customers as known_customers
        on identities.source_customer_id = known_customers.customer_id
    left join contacts as email_contacts
        on
            email_contacts.contact_type = 'email'
            and identities.email_normalized = email_contacts.contact_value
    left join contacts as phone_contacts
        on
            phone_contacts.contact_type = 'phone'
            and identities.phone_normalized = phone_contacts.contact_value

),

resolved as (

    select
        source_system || ':' || identity_type || ':' || identity_key as identity_id,
        source_system,
        identity_type,
        identity_key,
        source_customer_id,
        email_normalized,
        phone_normalized,

        case
            when customer_id_match is not null then customer_id_match
            when email_candidate_count = 1 then email_match
            when phone_candidate_count = 1 then phone_match
        end as customer_id,

        case
            when customer_id_match is not null then 'customer_id'
            when email_candidate_count = 1 then 'email'
            when phone_candidate_count = 1 then 'phone'
            when email_candidate_count > 1 then 'email'
            when phone_candidate_count > 1 then 'phone'
            else 'none'
        end as match_rule,

        case
            when customer_id_match is not null then 1
            when email_candidate_count = 1 then 1
            when phone_candidate_count = 1 then 1
            when email_candidate_count > 1 then email_candidate_count
            when phone_candidate_count > 1 then phone_candidate_count
            else 0
        end as candidate_customer_count,

        email_candidate_count,
        phone_candidate_count,
        source_record_count,
        first_seen_at,
        last_seen_at

    from candidates

),

final as (

    select
        identity_id,
        source_system,
        identity_type,
        identity_key,
        source_customer_id,
        email_normalized,
        phone_normalized,
        customer_id,
        match_rule,
        case
            -- a sales record is its own customer, but its email or phone cannot identify it
            when identity_type = 'customer_record'
                then email_candidate_count > 1 or phone_candidate_count > 1
            else customer_id is null and candidate_customer_count > 1
        end as is_ambiguous,
        match_rule = 'none' as is_unknown_contact,
        candidate_customer_count,
        source_record_count,
        first_seen_at,
        last_seen_at

    from resolved

)

select * from final
