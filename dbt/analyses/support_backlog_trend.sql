-- Question: Is the support backlog growing or shrinking, week by week?
-- Backlog at the end of each ISO week (its last day in the data), tickets opened and resolved that week.

with

weekly as (

    select
        dates.week_start_date,
        sum(kpis.tickets_opened) as tickets_opened,
        sum(kpis.tickets_resolved) as tickets_resolved,
        max(kpis.date_day) as last_day

    from marts.support_kpis_daily as kpis
    inner join marts.dim_dates as dates
        on kpis.date_day = dates.date_day
    group by dates.week_start_date

),

backlog as (

    select
        date_day,
        sum(backlog) as backlog

    from marts.support_kpis_daily
    group by date_day

)

select
    weekly.week_start_date,
    weekly.tickets_opened,
    weekly.tickets_resolved,
    backlog.backlog as backlog_at_week_end

from weekly
inner join backlog
    on weekly.last_day = backlog.date_day
order by weekly.week_start_date
