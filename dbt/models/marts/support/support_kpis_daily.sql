-- Support KPIs per day, ticket channel and priority, from the first ticket day to the analysis
-- date, for every channel x priority pair seen in the tickets (days without activity included,
-- with zeros): tickets opened and resolved that day, the backlog at the end of the day, median
-- first-response time of the tickets opened that day, median resolution time and SLA attainment
-- of the tickets resolved that day, average satisfaction of the surveys answered that day.
-- A missing channel or priority is reported as 'unknown'.

with

tickets as (

    select * from {{ ref('fct_tickets') }}

),

surveys as (

    select * from {{ ref('fct_survey_responses') }}

),

dates as (

    select * from {{ ref('dim_dates') }}

),

analysis as (

    select * from {{ ref('int_analysis_date') }}

),

ticket_facts as (

    select
        ticket_id,
        coalesce(channel, 'unknown') as channel,
        coalesce(priority, 'unknown') as priority,
        created_date,
        cast(resolved_at as date) as resolved_date,
        first_response_minutes,
        resolution_minutes,
        is_first_response_sla_breached,
        is_resolution_sla_breached,
        -- solved or closed without a resolution time: never in the backlog (when it was solved is unknown)
        resolved_at is null and coalesce(status in ('solved', 'closed'), false) as is_resolved_at_unknown_time

    from tickets

),

segments as (

    select distinct channel, priority
    from ticket_facts

),

days as (

    select dates.date_day
    from dates
    cross join analysis
    where
        dates.date_day >= (select min(created_date) from ticket_facts)
        and dates.date_day <= analysis.analysis_date

),

grid as (

    select
        days.date_day,
        segments.channel,
        segments.priority

    from days
    cross join segments

),

opened as (

    select
        created_date as date_day,
        channel,
        priority,
        count(*) as tickets_opened,
        count(*) filter (where not is_resolved_at_unknown_time) as tickets_entering_backlog,
        percentile_cont(0.5) within group (order by first_response_minutes) as median_first_response_minutes

    from ticket_facts
    group by all

),

resolved as (

    select
        resolved_date as date_day,
        channel,
        priority,
        count(*) as tickets_resolved,
        -- a ticket cannot leave the backlog before it entered it
        count(*) filter (where resolved_date >= created_date) as tickets_leaving_backlog,
        percentile_cont(0.5) within group (order by resolution_minutes) as median_resolution_minutes,
        avg(
            case
                when is_first_response_sla_breached is null or is_resolution_sla_breached is null then null
                when not is_first_response_sla_breached and not is_resolution_sla_breached then cast(1 as double)
                else cast(0 as double)
            end
        ) as sla_attainment_rate

    from ticket_facts
    where resolved_date is not null
    group by all

),

resolved_early as (

    -- resolved before they were created (bad data): leave the backlog the day they entered
    select
        created_date as date_day,
        channel,
        priority,
        count(*) as tickets_leaving_backlog

    from ticket_facts
    where resolved_date < created_date
    group by all

),

satisfaction as (

    select
        surveys.responded_date as date_day,
        coalesce(tickets.channel, 'unknown') as channel,
        coalesce(tickets.priority, 'unknown') as priority,
        avg(surveys.satisfaction_score) as average_satisfaction_score,
        count(*) as survey_responses

    from surveys
    left join tickets
        on surveys.ticket_id = tickets.ticket_id
    group by all

),

daily as (

    select
        grid.date_day,
        grid.channel,
        grid.priority,
        coalesce(opened.tickets_opened, 0) as tickets_opened,
        coalesce(resolved.tickets_resolved, 0) as tickets_resolved,
        coalesce(opened.tickets_entering_backlog, 0)
        - coalesce(resolved.tickets_leaving_backlog, 0)
        - coalesce(resolved_early.tickets_leaving_backlog, 0) as backlog_change,
        opened.median_first_response_minutes,
        resolved.median_resolution_minutes,
        resolved.sla_attainment_rate,
        satisfaction.average_satisfaction_score,
        coalesce(satisfaction.survey_responses, 0) as survey_responses

    from grid
    left join opened
        on
            grid.date_day = opened.date_day
            and grid.channel = opened.channel
            and grid.priority = opened.priority
    left join resolved
        on
            grid.date_day = resolved.date_day
            and grid.channel = resolved.channel
            and grid.priority = resolved.priority
    left join resolved_early
        on
            grid.date_day = resolved_early.date_day
            and grid.channel = resolved_early.channel
            and grid.priority = resolved_early.priority
    left join satisfaction
        on
            grid.date_day = satisfaction.date_day
            and grid.channel = satisfaction.channel
            and grid.priority = satisfaction.priority

),

final as (

    select
        cast(date_day as string) || ':' || channel || ':' || priority as support_kpis_daily_id,
        date_day,
        channel,
        priority,
        tickets_opened,
        tickets_resolved,
        cast(
            sum(backlog_change) over (
                partition by channel, priority
                order by date_day
                rows between unbounded preceding and current row
            ) as bigint
        ) as backlog,
        median_first_response_minutes,
        median_resolution_minutes,
        sla_attainment_rate,
        average_satisfaction_score,
        survey_responses

    from daily

)

select * from final
