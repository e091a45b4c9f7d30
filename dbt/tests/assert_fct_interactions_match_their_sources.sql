-- The incremental fct_interactions holds exactly the touchpoints that resolve to a customer
-- today, with their current customer: rows that should have been inserted, re-linked or deleted
-- by an incremental run show up here. Returns the differing rows.

with

fact as (

    select
        interaction_id,
        customer_id,
        customer_link_method,
        interaction_type,
        occurred_at,
        revenue_usd,
        satisfaction_score

    from {{ ref('fct_interactions') }}

),

sources as (

    select
        interaction_id,
        customer_id,
        customer_link_method,
        interaction_type,
        occurred_at,
        revenue_usd,
        satisfaction_score

    from {{ ref('int_interactions__unioned') }}
    where customer_id is not null

),

only_in_fact as (

    select 'only in fct_interactions' as side, * from (select * from fact except select * from sources)

),

only_in_sources as (

    select 'missing from fct_interactions' as side, * from (select * from sources except select * from fact)

)

select * from only_in_fact
union all
select * from only_in_sources
