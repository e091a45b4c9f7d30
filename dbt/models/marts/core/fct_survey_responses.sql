-- One row per satisfaction survey response, with the ticket it follows and the customer of
-- that ticket (the ticket requester's identity).

with

surveys as (

    select * from {{ ref('stg_support__satisfaction_surveys') }}

),

tickets as (

    select * from {{ ref('fct_tickets') }}

),

final as (

    select
        surveys.survey_id,
        surveys.ticket_id,
        tickets.identity_id,
        tickets.customer_id,
        surveys.satisfaction_score,
        surveys.satisfaction_score >= 4 as is_satisfied,
        surveys.comment,
        surveys.responded_at,
        cast(surveys.responded_at as date) as responded_date,
        tickets.channel as ticket_channel,
        tickets.priority as ticket_priority,
        tickets.category as ticket_category,
        tickets.agent_id,
        {{ seconds_between('tickets.resolved_at', 'surveys.responded_at') }} / 3600.0 as hours_after_resolution

    from surveys
    left join tickets
        on surveys.ticket_id = tickets.ticket_id

)

select * from final
