-- One row per support ticket (latest record per ticket_id), linked to the customer through the
-- identity of its requester (the ticket's customer_id when the sales system knows it, else the
-- requester email), with response and resolution times, SLA breaches against the targets of
-- the seed sla_targets, reopening and the satisfaction score of its survey. Flags that depend
-- on "now" (is_open, breaches of tickets still waiting) are as of the analysis date.

with

tickets as (

    select * from {{ ref('stg_support__tickets') }}

),

identities as (

    select * from {{ ref('int_identities__resolved') }}
    where identity_type = 'ticket_requester'

),

reopens as (

    select * from {{ ref('int_tickets__reopen_tracked') }}

),

sla_targets as (

    select * from {{ ref('sla_targets') }}

),

surveys as (

    select * from {{ ref('stg_support__satisfaction_surveys') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

ranked_surveys as (

    select
        ticket_id,
        survey_id,
        satisfaction_score,
        responded_at,
        row_number() over (
            partition by ticket_id
            order by responded_at desc, survey_id desc
        ) as survey_rank

    from surveys

),

latest_surveys as (

    select * except (survey_rank)
    from ranked_surveys
    where survey_rank = 1

),

timed as (

    select
        tickets.*,
        {{ seconds_between('tickets.created_at', 'tickets.first_response_at') }} / 60.0 as first_response_minutes,
        {{ seconds_between('tickets.created_at', 'tickets.resolved_at') }} / 60.0 as resolution_minutes,
        -- minutes the ticket had been waiting at the end of the analysis date
        {{ seconds_between('tickets.created_at', 'analysis.analysis_cutoff_at') }} / 60.0 as minutes_open_at_cutoff,
        analysis.analysis_cutoff_at

    from tickets
    cross join analysis

),

final as (

    select
        timed.ticket_id,
        identities.identity_id,
        identities.customer_id,
        coalesce(identities.match_rule, 'none') as customer_match_rule,
        coalesce(identities.match_rule, 'none') = 'none' as is_unknown_contact,
        timed.requester_email_normalized,
        timed.agent_id,
        timed.channel,
        case when timed.channel is not null then 'support:' || timed.channel end as channel_id,
        timed.priority,
        timed.category,
        timed.status,
        timed.created_at,
        cast(timed.created_at as date) as created_date,
        timed.first_response_at,
        timed.resolved_at,
        timed.first_response_minutes,
        timed.resolution_minutes,
        sla_targets.first_response_target_minutes,
        sla_targets.resolution_target_minutes,

        case
            when sla_targets.priority is null then null
            when timed.first_response_at is not null
                then timed.first_response_minutes > sla_targets.first_response_target_minutes
            else timed.minutes_open_at_cutoff > sla_targets.first_response_target_minutes
        end as is_first_response_sla_breached,

        case
            when sla_targets.priority is null then null
            when timed.resolved_at is not null
                then timed.resolution_minutes > sla_targets.resolution_target_minutes
            -- solved or closed without a resolution time: when is unknown
            when timed.status in ('solved', 'closed') then null
            else timed.minutes_open_at_cutoff > sla_targets.resolution_target_minutes
        end as is_resolution_sla_breached,

        coalesce(
            timed.created_at < timed.analysis_cutoff_at
            and (timed.resolved_at is null or timed.resolved_at >= timed.analysis_cutoff_at)
            and not (timed.resolved_at is null and coalesce(timed.status in ('solved', 'closed'), false)),
            false
        ) as is_open,

        coalesce(reopens.is_reopened, false) as is_reopened,
        coalesce(reopens.reopen_count, 0) as reopen_count,
        latest_surveys.survey_id,
        latest_surveys.satisfaction_score,
        latest_surveys.responded_at as survey_responded_at

    from timed
    left join identities
        on identities.identity_id = 'support:ticket_requester:' || timed.ticket_id
    left join reopens
        on timed.ticket_id = reopens.ticket_id
    left join sla_targets
        on timed.priority = sla_targets.priority
    left join latest_surveys
        on timed.ticket_id = latest_surveys.ticket_id

)

select * from final
