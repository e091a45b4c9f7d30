-- Every customer touchpoint across systems, linked to a customer where possible:
--   orders        -> their customer_id (always known: derived customers are included)
--   email events  -> the customer owning the normalised email (unambiguous emails only)
--   tickets       -> their customer_id when it is a known customer, else the requester email
--   surveys       -> the customer of the ticket they answer
-- Touchpoints that cannot be linked stay here with a null customer_id.

with

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

email_events as (

    select * from {{ ref('stg_marketing__email_events') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

surveys as (

    select * from {{ ref('stg_support__satisfaction_surveys') }}

),

customers as (

    select * from {{ ref('int_customers__unioned') }}

),

linkable_contacts as (

    select * from {{ ref('int_contacts__resolved') }}
    where not is_ambiguous

),

order_interactions as (

    select
        'order-' || order_id as interaction_id,
        customer_id,
        cast(null as varchar) as email_normalized,
        'customer_id' as customer_link_method,
        'sales' as interaction_channel,
        'order_placed' as interaction_type,
        ordered_at as occurred_at,
        order_id as source_record_id,
        total_amount_usd as revenue_usd,
        cast(null as bigint) as satisfaction_score

    from orders

),

email_interactions as (

    select
        'email-' || email_events.email_event_id as interaction_id,
        linkable_contacts.customer_id,
        email_events.email_normalized,
        case when linkable_contacts.customer_id is not null then 'email' end as customer_link_method,
        'email' as interaction_channel,
        'email_' || coalesce(email_events.event_type, 'unknown') as interaction_type,
        email_events.occurred_at,
        email_events.email_event_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score

    from email_events
    left join linkable_contacts
        on email_events.email_normalized = linkable_contacts.email_normalized

),

tickets_linked as (

    select
        tickets.*,

        case
            when customers.customer_id is not null then customers.customer_id
            else linkable_contacts.customer_id
        end as linked_customer_id,

        case
            when customers.customer_id is not null then 'customer_id'
            when linkable_contacts.customer_id is not null then 'email'
        end as customer_link_method

    from tickets
    left join customers
        on tickets.customer_id = customers.customer_id
    left join linkable_contacts
        on tickets.requester_email_normalized = linkable_contacts.email_normalized

),

ticket_interactions as (

    select
        'ticket-' || ticket_id as interaction_id,
        linked_customer_id as customer_id,
        requester_email_normalized as email_normalized,
        customer_link_method,
        'support' as interaction_channel,
        'ticket_opened' as interaction_type,
        created_at as occurred_at,
        ticket_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score

    from tickets_linked

),

survey_interactions as (

    select
        'survey-' || surveys.survey_id as interaction_id,
        tickets_linked.linked_customer_id as customer_id,
        tickets_linked.requester_email_normalized as email_normalized,
        case when tickets_linked.linked_customer_id is not null then 'ticket' end as customer_link_method,
        'survey' as interaction_channel,
        'survey_response' as interaction_type,
        surveys.responded_at as occurred_at,
        surveys.survey_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        surveys.satisfaction_score

    from surveys
    left join tickets_linked
        on surveys.ticket_id = tickets_linked.ticket_id

),

unioned as (

    select * from order_interactions
    union all
    select * from email_interactions
    union all
    select * from ticket_interactions
    union all
    select * from survey_interactions

)

select * from unioned
