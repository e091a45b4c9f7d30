-- Every touchpoint across systems except email events, linked to a customer through identity
-- resolution (int_identities__resolved, the same rules as bridge_customer_identities):
--   orders        -> their customer_id (always known: customers seen only in orders are customers)
--   tickets       -> the identity of their requester (customer_id, else email)
--   surveys       -> the customer of the ticket they answer
--   leads         -> the identity of the lead (email, else phone): lead_created, and
--                    lead_converted for leads that converted
-- Touchpoints that cannot be linked to one customer stay here with a null customer_id.
-- Email events (most of the rows: 70M at a million customers) are linked once, in
-- fct_email_events, which fct_interactions reads for the email channel: linking them here too
-- would repeat the largest join of the build.
-- _loaded_at is the latest load of the records a row is built from (not of the identity
-- resolution, which fct_interactions compares separately).

with

orders as (

    select * from {{ ref('stg_sales__orders') }}

),

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

surveys as (

    select * from {{ ref('stg_support__satisfaction_surveys') }}

),

leads as (

    select * from {{ ref('stg_marketing__leads') }}

),

identities as (

    select * from {{ ref('int_identities__resolved') }}

),

order_interactions as (

    select
        'order-' || order_id as interaction_id,
        'sales:customer_record:' || customer_id as identity_id,
        customer_id,
        cast(null as string) as email_normalized,
        'customer_id' as customer_link_method,
        'sales' as interaction_channel,
        case when is_refund then 'refund_issued' else 'order_placed' end as interaction_type,
        ordered_at as occurred_at,
        order_id as source_record_id,
        net_revenue_usd as revenue_usd,
        cast(null as bigint) as satisfaction_score,
        _loaded_at

    from orders

),

tickets_linked as (

    select
        tickets.*,
        identities.identity_id,
        identities.customer_id as linked_customer_id,
        case when identities.customer_id is not null then identities.match_rule end as customer_link_method

    from tickets
    left join identities
        on identities.identity_id = 'support:ticket_requester:' || tickets.ticket_id

),

ticket_interactions as (

    select
        'ticket-' || ticket_id as interaction_id,
        identity_id,
        linked_customer_id as customer_id,
        requester_email_normalized as email_normalized,
        customer_link_method,
        'support' as interaction_channel,
        'ticket_opened' as interaction_type,
        created_at as occurred_at,
        ticket_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score,
        _loaded_at

    from tickets_linked

),

survey_interactions as (

    select
        'survey-' || surveys.survey_id as interaction_id,
        tickets_linked.identity_id,
        tickets_linked.linked_customer_id as customer_id,
        tickets_linked.requester_email_normalized as email_normalized,
        case when tickets_linked.linked_customer_id is not null then 'ticket' end as customer_link_method,
        'survey' as interaction_channel,
        'survey_response' as interaction_type,
        surveys.responded_at as occurred_at,
        surveys.survey_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        surveys.satisfaction_score,
        greatest(surveys._loaded_at, tickets_linked._loaded_at) as _loaded_at

    from surveys
    left join tickets_linked
        on surveys.ticket_id = tickets_linked.ticket_id

),

leads_linked as (

    select
        leads.*,
        identities.identity_id,
        identities.customer_id as linked_customer_id,
        case when identities.customer_id is not null then identities.match_rule end as customer_link_method

    from leads
    left join identities
        on identities.identity_id = 'marketing:lead:' || leads.lead_id

),

lead_interactions as (

    select
        'lead-' || lead_id as interaction_id,
        identity_id,
        linked_customer_id as customer_id,
        email_normalized,
        customer_link_method,
        'lead' as interaction_channel,
        'lead_created' as interaction_type,
        created_at as occurred_at,
        lead_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score,
        _loaded_at

    from leads_linked

    union all

    select
        'lead_conversion-' || lead_id as interaction_id,
        identity_id,
        linked_customer_id as customer_id,
        email_normalized,
        customer_link_method,
        'lead' as interaction_channel,
        'lead_converted' as interaction_type,
        converted_at as occurred_at,
        lead_id as source_record_id,
        cast(null as decimal(18, 2)) as revenue_usd,
        cast(null as bigint) as satisfaction_score,
        _loaded_at

    from leads_linked
    where converted_at is not null

),

unioned as (

    select * from order_interactions
    union all
    select * from ticket_interactions
    union all
    select * from survey_interactions
    union all
    select * from lead_interactions

)

select * from unioned
